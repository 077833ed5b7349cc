"""Property tests (Hypothesis) for every reader and for predict and annotate:
random texts with every Unicode line separator, NUL, BOM and random code
points; random span sets (overlapping, out of range, mid-token). Either the
input is refused with a ConversionError / `error:` naming the file and line,
or nothing is lost: entities in = out + dropped, every entity not written as
given is listed in the report, one output per input, and text round-trips."""
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import spacy
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from spacy.tokens import DocBin
from typer.testing import CliRunner

from med_ner.cli import app
from med_ner.corpus.brat import convert_brat
from med_ner.corpus.conversion import LabelMap
from med_ner.corpus.reading import ConversionError
from med_ner.corpus.iob import convert_iob
from med_ner.corpus.jsonl import convert_jsonl

# Every character str.splitlines() breaks at, plus NUL, BOM, TAB and spaces.
SEPARATORS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
ODD = SEPARATORS + ["\x00", "\ufeff", "\t", " ", "  "]
WORDS = ["fever", "pain", "aspirin", "No", "chest", "-", ".", "x"]
LABELS = ["SYMPTOM", "DRUG"]
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

any_char = st.characters(blacklist_categories=("Cs",))  # no lone surrogates: they cannot be UTF-8
pieces = st.one_of(st.sampled_from(WORDS), st.sampled_from(ODD), st.text(any_char, max_size=3))
texts = st.lists(pieces, max_size=12).map("".join)
runner = CliRunner()


def spans_for(n_chars: int):
    """Span sets over a text: mostly inside it (overlapping, mid-token, on
    whitespace), one in ten empty, reversed or outside it."""
    label = st.sampled_from(LABELS)
    inside = st.lists(st.integers(0, n_chars), min_size=2, max_size=2, unique=True).map(sorted)
    inside = inside.flatmap(lambda se: st.tuples(st.just(se[0]), st.just(se[1]), label))
    offset = st.integers(min_value=-1, max_value=n_chars + 1)
    wild = st.tuples(offset, offset, label)
    span = st.integers(0, 9).flatmap(lambda k: wild if k == 0 or n_chars == 0 else inside)
    return st.lists(span, max_size=4)


@st.composite
def text_with_spans(draw):
    text = draw(texts)
    return text, draw(spans_for(len(text)))


def assert_located(err: ConversionError, path: Path, n_lines: int) -> None:
    """A refusal names the file, and the line when it is about one line."""
    event("refused")
    assert err.path.endswith(path.name)
    assert err.line is None or 1 <= err.line <= max(n_lines, 1)
    assert str(err).startswith(err.path)


def read_docs(path: Path, lang: str = "en"):
    return list(DocBin(store_user_data=True).from_disk(path).get_docs(spacy.blank(lang).vocab))


def assert_nothing_lost(report, given_spans: Counter, written: Counter, by_line: bool = True) -> None:
    """Every ([line,] start, end, label) given and not written as given has a
    report line (dropped or changed) with the original offsets."""
    event("converted")
    report.check()
    noted = Counter(((n.line,) if by_line else ()) + (n.start, n.end, n.label) for n in report.dropped + report.changed)
    for key, count in given_spans.items():
        missing = count - written[key]
        assert missing <= noted[key], f"{key} neither written as given nor in the report"


@PROPERTY
@given(records=st.lists(text_with_spans(), min_size=1, max_size=4), ascii_only=st.booleans())
def test_jsonl_reader(tmp_path_factory, records, ascii_only):
    folder = tmp_path_factory.mktemp("jsonl")
    path = folder / "in.jsonl"
    path.write_text("".join(json.dumps({"text": t, "spans": [{"start": s, "end": e, "label": label} for s, e, label in spans]},
                                       ensure_ascii=ascii_only) + "\n" for t, spans in records), encoding="utf-8")
    try:
        report = convert_jsonl(path, folder / "out.spacy", LabelMap())
    except ConversionError as err:
        assert_located(err, path, len(records))
        # Valid JSON with spans inside their texts is never refused.
        assert not all(0 <= s < e <= len(t) for t, spans in records for s, e, _ in spans), str(err)
        return
    docs = read_docs(folder / "out.spacy")
    assert [d.text for d in docs] == [t for t, _ in records]
    given_spans = Counter((i + 1, s, e, label) for i, (_, spans) in enumerate(records) for s, e, label in spans)
    written = Counter((i + 1, ent.start_char, ent.end_char, ent.label_) for i, d in enumerate(docs) for ent in d.ents)
    assert_nothing_lost(report, given_spans, written)


# No "\r" inside a token: a lone CR ends a line in the readers (old Mac files), so it is a line break, not a token's.
token_text = st.one_of(st.sampled_from(WORDS), st.sampled_from([" ", "a b", "x ", " y", "\x00", "\u2028", "\x85z"]),
                       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r"),
                               min_size=1, max_size=4))
tags = st.sampled_from(["O", "B-SYMPTOM", "I-SYMPTOM", "B-DRUG", "I-DRUG", "I-X", "b-bad", "O "])
sentences = st.lists(st.lists(st.tuples(token_text, tags), min_size=1, max_size=6), min_size=1, max_size=3)


def expected_entities(tags_of_doc):
    """IOB2 entities, written independently of the reader: an entity starts at
    B-X or at an I-X that does not continue an X."""
    ents, current = [], None
    for i, tag in enumerate(tags_of_doc + ["O"]):
        prefix, _, label = tag.partition("-")
        if current and not (prefix == "I" and label == current[1]):
            ents.append((current[0], i, current[1]))
            current = None
        if prefix in ("B", "I") and current is None:
            current = (i, label)
    return ents


@PROPERTY
@given(sents=sentences, crlf=st.booleans())
def test_iob_reader(tmp_path_factory, sents, crlf):
    folder = tmp_path_factory.mktemp("iob")
    path = folder / "in.iob"
    end = "\r\n" if crlf else "\n"
    lines = []
    for sent in sents:
        lines += [f"{tok}\t{tag}" for tok, tag in sent] + [""]
    path.write_bytes(end.join(lines).encode("utf-8"))
    try:
        report = convert_iob(path, folder / "out.spacy", LabelMap(), scheme="iob2", n_sents=2)
    except ConversionError as err:
        assert_located(err, path, len(lines))
        return
    report.check()
    docs = read_docs(folder / "out.spacy")
    words = [t.text for d in docs for t in d]
    assert words == [tok.strip() for sent in sents for tok, _ in sent]
    trimmed = [n["token"] for n in report.notes.get("trimmed_tokens", [])]
    assert trimmed == [tok for sent in sents for tok, _ in sent if tok != tok.strip()]
    # Sentences never share an entity; documents hold n_sents=2 sentences.
    got, want, offset = [], [], 0
    for d in docs:
        got += [(e.start + offset, e.end + offset, e.label_) for e in d.ents]
        offset += len(d)
    offset = 0
    for sent in sents:
        want += [(s + offset, e + offset, label) for s, e, label in expected_entities([t for _, t in sent])]
        offset += len(sent)
    assert got == want


@st.composite
def brat_document(draw):
    text = draw(texts)
    spans = draw(spans_for(len(text)))
    polarity = draw(st.lists(st.sampled_from(["NEG", "POS", None]), min_size=len(spans), max_size=len(spans)))
    return text, spans, polarity


@PROPERTY
@given(doc=brat_document(), one_doc_per_line=st.booleans())
def test_brat_reader(tmp_path_factory, doc, one_doc_per_line):
    text, spans, polarity = doc
    folder = tmp_path_factory.mktemp("brat")
    (folder / "d.txt").write_bytes(text.encode("utf-8"))
    ann = [f"T{i + 1}\t{label} {s} {e}\t{text[max(s, 0):max(e, 0)]}" for i, (s, e, label) in enumerate(spans)]
    ann += [f"A{i + 1}\tPOLARITY T{i + 1} {p}" for i, p in enumerate(polarity) if p]
    (folder / "d.ann").write_bytes("\n".join(ann).encode("utf-8"))
    try:
        report = convert_brat(folder, folder / "out.spacy", LabelMap(), one_doc_per_line=one_doc_per_line)
    except ConversionError as err:
        event("refused")
        assert err.path.endswith(("d.ann", "d.txt", folder.name))
        assert err.line is None or err.line >= 1
        # A text that is not blank, with spans inside it whose quotes fit on their .ann line, is never refused.
        assert not (text.strip() and all(0 <= s < e <= len(text) and "\n" not in text[s:e] for s, e, _ in spans)
                    and (not one_doc_per_line or any(line.strip() for line in re.split(r"\r\n|\r|\n", text)))), str(err)
        return
    docs = read_docs(folder / "out.spacy")
    if one_doc_per_line:
        report.check()
        # Lines end at \n, \r\n or a lone \r (issue 37: old Mac files are one document per line too).
        assert [d.text for d in docs] == [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
        return
    [out] = docs
    assert out.text == text
    # Two T lines may hold one span: compare without the .ann line.
    given_spans = Counter(spans)
    written = Counter((ent.start_char, ent.end_char, ent.label_) for ent in out.ents)
    assert_nothing_lost(report, given_spans, written, by_line=False)
    # No attribute vanishes: each is on a kept entity or counted as on a dropped one,
    # and a kept entity has the POLARITY of any T line with exactly its span.
    attributes = report.notes["attributes"]
    assert attributes["kept"] + attributes["on_dropped_entities"] == sum(1 for p in polarity if p)
    for ent in out.ents:
        if any(p and (s, e) == (ent.start_char, ent.end_char) for (s, e, _), p in zip(spans, polarity)):
            assert "POLARITY" in out.user_data["ent_attrs"].get(f"{ent.start_char}:{ent.end_char}", {})


def invoke(args, stdin=None):
    result = runner.invoke(app, args, input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def ruler(tmp_path_factory):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "SYMPTOM", "pattern": "fever"}])
    path = tmp_path_factory.mktemp("ruler") / "pipeline"
    nlp.to_disk(path)
    return str(path)


# A line of --lines input: no \n inside, and no \r at its end (that would be a \r\n).
line_text = texts.map(lambda t: t.replace("\n", "").rstrip("\r"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line_text, min_size=1, max_size=5), crlf=st.booleans(), final_break=st.booleans())
def test_predict_lines(ruler, lines, crlf, final_break):
    end = "\r\n" if crlf else "\n"
    data = end.join(lines) + (end if final_break else "")
    # Lines end at \n, \r\n or a lone \r (old Mac files; issue 37), never at U+2028 and the like.
    expected = re.split(r"\r\n|\r|\n", data.removeprefix("\ufeff"))  # a BOM at the start is not text
    if expected[-1] == "":
        expected.pop()  # "a\n" is one line: a final line break ends a line, it does not start one
    result = invoke(["predict", "--model", ruler, "--lines", "--json"], data.encode("utf-8"))
    if not expected:
        assert result.exit_code == 1 and result.stderr.startswith("error: <stdin>"), result.output
        return
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.split("\n") if line]
    assert [r["text"] for r in records] == expected
    assert all(r["text"][e["start"]:e["end"]] == e["text"] for r in records for e in r["ents"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=st.lists(texts, min_size=1, max_size=5), partition_size=st.integers(1, 3), ascii_only=st.booleans(),
       bom=st.booleans())
def test_annotate(tmp_path_factory, ruler, docs, partition_size, ascii_only, bom):
    folder = tmp_path_factory.mktemp("annotate")
    data = "".join(json.dumps({"id": f"d{i}", "text": t}, ensure_ascii=ascii_only) + "\n" for i, t in enumerate(docs))
    (folder / "in.jsonl").write_text(("\ufeff" if bom else "") + data, encoding="utf-8")
    args = ["annotate", str(folder / "in.jsonl"), str(folder / "out.jsonl"), "--model", ruler,
            "--partition-size", str(partition_size)]
    first = invoke(args)
    assert first.exit_code == 0, first.output
    out = [json.loads(line) for line in (folder / "out.jsonl").read_text(encoding="utf-8").split("\n") if line]
    assert [(r["id"], r["text"]) for r in out] == [(f"d{i}", t) for i, t in enumerate(docs)]
    assert all(r["text"][e["start"]:e["end"]] == e["text"] for r in out for e in r["ents"])
    again = invoke(args)
    assert again.exit_code == 0 and f"({len(docs)} from an earlier run)" in again.stdout
