"""Convert CoNLL-style IOB files (one token per line) to a spaCy DocBin.

Columns are TAB- or space-separated; one of them holds the tag (the last by
default). Blank lines end sentences, `-DOCSTART-` lines start documents. Tags
are IOB1 (CoNLL-2003's original) or IOB2; `--scheme auto` tells them apart.
"""
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span

from med_ner.corpus.conversion import ConversionReport, EntityNote, LabelMap, check_options, write_docbin

from med_ner.corpus.reading import ConversionError, blank_nlp, read_text, split_lines

TAG_RE = re.compile(r"^(?P<prefix>[BI])-(?P<label>\S+)$")


@dataclass
class Token:
    text: str
    tag: str
    line: int
    raw: str  # as in the file, before surrounding whitespace was trimmed


@dataclass
class Sentence:
    tokens: List[Token]
    doc_start: bool  # first sentence after a -DOCSTART- line


def _check_column(path: Path, option: str, column: int, n_columns: int, line_no: int) -> None:
    if not -n_columns <= column < n_columns:
        raise ConversionError(path, f"{option} {column}: the line has {n_columns} columns "
                                    f"(0..{n_columns - 1}, or -{n_columns}..-1 from the end)", line=line_no)


def _token_text(raw: str, path: Path, line_no: int) -> str:
    """The token without surrounding whitespace; whitespace inside a token
    (columns separated by both TAB and space?) or a blank token is an error."""
    token = raw.strip()
    if not token:
        raise ConversionError(path, f"token is only whitespace: {raw!r}" if raw else "empty token", line=line_no)
    if any(ch.isspace() for ch in token):
        raise ConversionError(path, f"token {raw!r} holds whitespace (a TAB-separated line with a space inside "
                                    "a column? try --sep space)", line=line_no)
    return token


def read_sentences(path: Path, sep: str, token_column: int, tag_column: int) -> Iterator[Sentence]:
    text = read_text(path)
    tokens: List[Token] = []
    doc_start = False
    n_columns = None
    for line_no, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            if tokens:
                yield Sentence(tokens, doc_start)
                tokens, doc_start = [], False
            continue
        cols = line.split("\t") if sep == "tab" or (sep == "auto" and "\t" in line) else line.split()
        if cols[0] == "-DOCSTART-":
            if tokens:
                yield Sentence(tokens, doc_start)
                tokens = []
            doc_start = True
            continue
        if n_columns is None:
            n_columns = len(cols)
            _check_column(path, "--token-column", token_column, n_columns, line_no)
            _check_column(path, "--tag-column", tag_column, n_columns, line_no)
        if len(cols) != n_columns:
            raise ConversionError(path, f"expected {n_columns} columns like the first token line, found {len(cols)}: {line!r}", line=line_no)
        raw, tag = cols[token_column], cols[tag_column].strip()
        token = _token_text(raw, path, line_no)
        if tag != "O" and not TAG_RE.match(tag):
            raise ConversionError(path, f"tag {tag!r} is not IOB (expected O, B-TYPE or I-TYPE)", line=line_no)
        tokens.append(Token(token, tag, line_no, raw))
    if tokens:
        yield Sentence(tokens, doc_start)


def _split(tag: str) -> Tuple[str, Optional[str]]:
    if tag == "O":
        return "O", None
    m = TAG_RE.match(tag)
    return m.group("prefix"), m.group("label")


def detect_scheme(sentences: List[Sentence]) -> str:
    """IOB1 when entities start with I- and B- only separates two entities of
    one type; IOB2 when B- starts entities elsewhere too."""
    i_starts = b_elsewhere = 0
    for sent in sentences:
        prev = None
        for tok in sent.tokens:
            prefix, label = _split(tok.tag)
            if prefix == "I" and label != prev:
                i_starts += 1
            if prefix == "B" and label != prev:
                b_elsewhere += 1
            prev = label
    return "iob1" if i_starts and not b_elsewhere else "iob2"


def decode_iob(tags: Sequence[str]) -> List[Tuple[int, int, str, Optional[str]]]:
    """Token spans (start, end, label, after) of IOB1 or IOB2 tags. An entity
    starts at B-, or at an I- that does not continue an entity of its label;
    `after` is the tag before an entity that an I- started (None after B-)."""
    ents = []
    current = None  # [start, label, after]
    for i, tag in enumerate(tags):
        prefix, label = _split(tag)
        continues = prefix == "I" and current is not None and current[1] == label
        if current is not None and not continues:
            ents.append((current[0], i, current[1], current[2]))
            current = None
        if prefix == "B" or (prefix == "I" and not continues):
            current = [i, label, (tags[i - 1] if i else "start of sentence") if prefix == "I" else None]
    if current is not None:
        ents.append((current[0], len(tags), current[1], current[2]))
    return ents


def sentence_entities(sent: Sentence, scheme: str, path: Path, report: ConversionReport,
                      offset: int) -> List[Tuple[int, int, str, int]]:
    """(start, end, label, line) token spans of one sentence; in IOB2, an I-
    after O is repaired (and reported) as a B-, an I- after another type is an
    error. Report notes give token offsets into the document (`offset` is the
    sentence's first token there) and the whole entity."""
    ents = []
    for start, end, label, after in decode_iob([tok.tag for tok in sent.tokens]):
        tok = sent.tokens[start]
        if after is not None and scheme == "iob2":
            if after not in ("O", "start of sentence"):
                raise ConversionError(
                    path, f"I-{label} follows {after}: cannot tell whether a new {label} entity starts "
                    f"(missing B-) or the entity continues with a wrong type", line=tok.line,
                )
            report.change(EntityNote(
                str(path), tok.line, label, " ".join(t.text for t in sent.tokens[start:end]),
                offset + start, offset + end,
                f"repaired: I-{label} after {after} has no B-; read as the start of a new {label} entity",
            ))
        ents.append((start, end, label, tok.line))
    return ents


def convert_iob(input_path: Path, output_path: Path, label_map: LabelMap, scheme: str = "auto", sep: str = "auto",
                token_column: int = 0, tag_column: int = -1, n_sents: int = 10, lang: str = "en") -> ConversionReport:
    nlp = blank_nlp(lang)
    report = ConversionReport("convert_iob", sources=[str(input_path)], output=str(output_path))
    check_options(scheme=scheme, sep=sep, n_sents=n_sents, token_column=token_column, tag_column=tag_column)
    sentences = list(read_sentences(input_path, sep, token_column, tag_column))
    if scheme == "auto":
        scheme = detect_scheme(sentences)
    report.notes.update({"scheme": scheme, "sentences": len(sentences), "n_sents": n_sents})
    has_docstart = any(s.doc_start for s in sentences)
    # Documents: -DOCSTART- blocks when present, else groups of n_sents sentences.
    groups: List[List[Sentence]] = []
    for sent in sentences:
        new_group = not groups or (sent.doc_start if has_docstart else len(groups[-1]) >= n_sents)
        if new_group:
            groups.append([])
        groups[-1].append(sent)
    docs = []
    for group in groups:
        report.documents_in += 1
        words, sent_starts, spans = [], [], []
        for sent in group:
            offset = len(words)
            for tok in sent.tokens:
                if tok.raw != tok.text:
                    report.notes.setdefault("trimmed_tokens", []).append({"line": tok.line, "token": tok.raw})
            for start, end, label, line in sentence_entities(sent, scheme, input_path, report, offset):
                report.read_entity(label)
                target = label_map.map(label, input_path, line)
                text = " ".join(t.text for t in sent.tokens[start:end])
                trimmed = [t for t in sent.tokens[start:end] if t.raw != t.text]
                if trimmed:
                    report.change(EntityNote(
                        str(input_path), trimmed[0].line, label, " ".join(t.raw for t in sent.tokens[start:end]),
                        offset + start, offset + end,
                        f"whitespace: token {trimmed[0].raw!r} trimmed" + (
                            f" (and {len(trimmed) - 1} more)" if len(trimmed) > 1 else ""), new_text=text,
                    ))
                if target is None:
                    report.drop(EntityNote(str(input_path), line, label, text, offset + start, offset + end,
                                           "unmapped: label map drops this label"))
                    continue
                spans.append((offset + start, offset + end, target))
            words.extend(t.text for t in sent.tokens)
            sent_starts.extend([True] + [False] * (len(sent.tokens) - 1))
        doc = Doc(nlp.vocab, words=words, sent_starts=sent_starts)
        doc.ents = [Span(doc, s, e, label=label) for s, e, label in spans]
        doc.user_data["id"] = f"{input_path.name}:{group[0].tokens[0].line}"
        report.add_doc(doc)
        docs.append(doc)
    write_docbin(docs, output_path, input_path)
    return report
