"""Convert BRAT standoff annotations (.txt + .ann pairs) to a spaCy DocBin.

Input is a folder of `<stem>.txt` / `<stem>.ann` pairs (converted in name
order) or one .txt/.ann file; `--ids FILE` (one stem a line, blank lines and
`#` comments ignored) converts only the listed documents, e.g. one split.
Offsets are counted as BRAT counts them: code points into the .txt exactly as
stored (CRLF is not translated, a BOM is the character at offset 0).

What is read from the .ann:
- `T` lines (text-bound annotations) become entities. Every fragment must lie
  inside the text and the quoted text must equal the text at the offsets
  (fragments joined by one space, as BRAT writes them; trailing whitespace on
  the line is ignored); otherwise it is an error naming the .ann line.
- Discontinuous spans (several `;`-separated fragments): when only whitespace
  lies between the fragments (BRAT splits a span at every line break), they
  are joined into one contiguous span ("joined" in the report). Otherwise the
  longest fragment (the first of equally long ones) is kept as the entity and
  the others are left out ("discontinuous" in the report): the span from the
  first fragment to the last would swallow the unrelated words in between.
- Labels go through the label map first; entities whose type the map drops
  are reported as "unmapped" and never compete for tokens. Overlapping or
  nested entities are then resolved by `conversion.remove_overlaps` (longest
  span wins, each loser reported).
- `A` (and legacy `M`) attribute lines, e.g. MACCROBAT's POLARITY and TREND,
  may target a T id or an E id (an event's attributes belong to its trigger,
  the T after `Type:` on the E line). For kept entities they are stored as
  `doc.user_data["ent_attrs"] = {"<start_char>:<end_char>": {"POLARITY": "NEG"}}`
  (a binary attribute without a value is stored as `true`); attributes on
  dropped entities are counted in the report's notes["attributes"]. Two
  values of one attribute on one id are an error; two events on one trigger
  may differ (BRAT allows it): the first attribute line wins and each losing
  line is listed in notes["attribute_conflicts"]. When two T lines have the
  exact same span, the dropped copy's attributes that the kept one lacks are
  carried over (its report line says so).
- An `E`, `T` or `R` id used twice is an error.
- `R` lines (`R<n>\t<type> Arg1:<id> Arg2:<id>`, ids of T or E lines) are
  checked; a line without Arg1 and Arg2, or naming an unknown id, is an error.
- With `attributes` (an attribute label map, e.g.
  assets/labels/maccrobat_attributes.json), T lines whose type it maps to a
  label are also kept in `doc.spans["attributes"]`, under the entity policies
  (discontinuous, misaligned, longest wins among attribute spans; they may
  overlap entities); the report counts them in notes["attribute_spans"]
  (read, kept, dropped by reason), notes["attributes_out"] and
  notes["attribute_span_notes"]. `MODIFY` relations (Arg1 modifies Arg2; an
  E id stands for its trigger) go to `doc.user_data["links"]` as sorted,
  distinct `[mod_start, mod_end, head_start, head_end]` character offsets
  when the head is a kept entity and the modifier a kept attribute span or a
  kept BODY_PART entity (a T line that lost to an exact duplicate counts as
  the kept copy); notes["links"] counts them (read, kept, dropped by reason)
  and notes["link_drops"] lists each dropped one. Without the option neither
  the span group nor the key is written.
- `E`, `*`, `#` (and `N`) lines, and the `R` lines not read as links, are
  counted in notes["ignored_lines"] and otherwise ignored (with `attributes`,
  notes["ignored_relations"] counts those R lines by type).

Every kept entity is in `doc.ents` and also in `doc.spans["brat"]`.
`doc.user_data["id"]` is the document stem (`<stem>:<line>` with
`--one-doc-per-line`). With `--split-sentences` (the default) each line of the
text is a sentence: the token after a line break starts one, other tokens do
not, except that a line break inside a kept entity (a span BRAT split at a
line break and that was joined) does not start a sentence.

`--one-doc-per-line` (eHealth-KD: one sentence per line, one file per split)
makes one Doc per non-empty line, with offsets shifted to the line; an entity
that runs past the end of its line is dropped ("line-crossing").
`--annotated-lines-only` then keeps only lines holding at least one T
annotation (eHealth-KD test scenarios 1 and 4 hide the 100 annotated sentences
among thousands of unannotated ones); the skipped lines are not documents and
are counted in notes["unannotated_lines_skipped"].

In the report, an entity's start/end are character offsets into its Doc's
text (the line with `--one-doc-per-line`) and its line is the .ann line.
"""
import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from spacy.tokens import Doc

from med_ner.corpus.conversion import (ConversionReport, EntityNote, LabelMap, SourceSpan, make_spans, check_options,
                                       remove_overlaps, write_docbin)

from med_ner.corpus.brat_links import AttributeLinks, Relation, parse_relation, resolve_relations
from med_ner.corpus.reading import ConversionError, blank_nlp, check_length, folder_files, line_spans, read_text

IGNORED_KINDS = ("E", "R", "*", "#")
OFFSET_RE = re.compile(r"[0-9]+")
AttrValue = Union[str, bool]


@dataclass
class TextBound:
    id: str
    type: str
    fragments: List[Tuple[int, int]]  # sorted, file offsets
    text: str  # the text at the fragments, joined by one space
    line: int


@dataclass
class Annotations:
    textbounds: Dict[str, TextBound] = field(default_factory=dict)
    attributes: Dict[str, Dict[str, AttrValue]] = field(default_factory=dict)  # T id -> {name: value}
    attribute_targets: List[str] = field(default_factory=list)  # T id of each attribute line
    ignored: Counter = field(default_factory=lambda: Counter({kind: 0 for kind in IGNORED_KINDS}))
    conflicts: List[Dict] = field(default_factory=list)  # attribute values of events on one trigger that lost
    relations: List[Relation] = field(default_factory=list)  # R lines, arguments as T ids


@dataclass
class BratSpan(SourceSpan):
    ann_id: str = ""


def read_ids(path: Path) -> List[Tuple[str, int]]:
    """(stem, line) for each id in an ids file."""
    ids, seen = [], {}
    for line_no, raw in enumerate(read_text(path).split("\n"), start=1):
        stem = raw.split("#", 1)[0].strip()
        if not stem:
            continue
        if stem in seen:
            raise ConversionError(path, f"id {stem!r} is listed twice (first on line {seen[stem]})", line=line_no)
        seen[stem] = line_no
        ids.append((stem, line_no))
    if not ids:
        raise ConversionError(path, "lists no document ids")
    return ids


def find_documents(input_path: Path, ids_path: Optional[Path],
                   left_out: List[Dict[str, str]]) -> List[Tuple[str, Path, Path]]:
    """(stem, .txt, .ann) of each document to convert, in name order (a folder
    is read by reading.folder_files); files of a folder that are not read go
    to `left_out`."""
    input_path = Path(input_path)
    if input_path.is_dir():
        found, skipped = folder_files(input_path, (".txt", ".ann"))
        left_out.extend(skipped)
        txts, anns = found[".txt"], found[".ann"]
    elif input_path.suffix in (".txt", ".ann"):
        if not input_path.exists():
            raise ConversionError(input_path, "file not found")
        txt, ann = input_path.with_suffix(".txt"), input_path.with_suffix(".ann")
        txts = {txt.stem: txt} if txt.exists() else {}
        anns = {ann.stem: ann} if ann.exists() else {}
    else:
        raise ConversionError(input_path, "expected a folder of BRAT .txt/.ann pairs or a .txt/.ann file")
    stems = sorted(set(txts) | set(anns))
    if ids_path is not None:
        wanted = read_ids(ids_path)
        for stem, line_no in wanted:
            if stem not in txts and stem not in anns:
                raise ConversionError(ids_path, f"no .txt or .ann file for id {stem!r} in {input_path}", line=line_no)
        stems = sorted(stem for stem, _ in wanted)
    if not stems:
        raise ConversionError(input_path, "no .txt/.ann files found")
    docs = []
    for stem in stems:
        if stem not in anns:
            raise ConversionError(txts[stem], f"no matching .ann file ({stem}.ann)")
        if stem not in txts:
            raise ConversionError(anns[stem], f"no matching .txt file ({stem}.txt)")
        docs.append((stem, txts[stem], anns[stem]))
    return docs


def _read_ann_text(path: Path) -> str:
    """An .ann may be empty (a document without annotations)."""
    if not path.read_bytes().strip():
        return ""
    return read_text(path)


def _parse_textbound(line: str, path: Path, line_no: int, text: str, txt_name: str) -> TextBound:
    parts = line.split("\t", 2)  # the quoted text may itself hold a TAB
    if len(parts) != 3:
        raise ConversionError(
            path, f"a T line needs 3 TAB-separated fields (id, '<type> <start> <end>', text), found {len(parts)}: "
            f"{line!r}", line=line_no,
        )
    tid, middle, quoted = parts
    type_offsets = middle.split(" ", 1)
    if len(type_offsets) != 2 or not type_offsets[0]:
        raise ConversionError(path, f"{tid}: expected '<type> <start> <end>[;<start> <end>...]', found {middle!r}", line=line_no)
    label, offsets = type_offsets
    fragments = []
    for frag in offsets.split(";"):
        nums = frag.split()
        if len(nums) != 2 or not all(OFFSET_RE.fullmatch(n) for n in nums):
            raise ConversionError(
                path, f"{tid}: fragment {frag!r} is not '<start> <end>' with non-negative integer offsets", line=line_no
            )
        start, end = int(nums[0]), int(nums[1])
        if start >= end:
            raise ConversionError(path, f"{tid}: fragment start {start} is not before its end {end}", line=line_no, offset=start)
        if end > len(text):
            raise ConversionError(
                path, f"{tid}: fragment [{start}:{end}] lies outside the text of {txt_name} (0..{len(text)})",
                line=line_no, offset=start,
            )
        fragments.append((start, end))
    expected = " ".join(text[s:e] for s, e in fragments)
    if quoted != expected and quoted.rstrip() != expected.rstrip():
        bom = text.find("\ufeff", 0, fragments[-1][1])
        hint = (f"; {txt_name} holds a byte order mark (U+FEFF) at offset {bom}, which BRAT counts as a character "
                f"(offsets made by a tool that skips it are off by one)" if bom >= 0 else "")
        raise ConversionError(
            path, f"{tid}: quotes {quoted!r} but the text of {txt_name} at {offsets} is {expected!r}{hint}",
            line=line_no, offset=fragments[0][0],
        )
    fragments.sort()
    for (_, prev_end), (start, _) in zip(fragments, fragments[1:]):
        if start < prev_end:
            raise ConversionError(path, f"{tid}: fragments overlap at offset {start}", line=line_no, offset=start)
    return TextBound(tid, label, fragments, expected, line_no)


def parse_ann(path: Path, ann_text: str, text: str, txt_name: str) -> Annotations:
    """Read one .ann file against its text; every problem is an error with its line."""
    ann = Annotations()
    events: Dict[str, Tuple[str, int]] = {}  # E id -> (trigger id, line)
    attribute_lines: List[Tuple[str, str, AttrValue, int]] = []  # (name, target, value, line)
    for line_no, raw in enumerate(ann_text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        kind = line[0]
        if kind == "T":
            tb = _parse_textbound(line, path, line_no, text, txt_name)
            if tb.id in ann.textbounds:
                raise ConversionError(path, f"id {tb.id} is used twice (first on line {ann.textbounds[tb.id].line})", line=line_no)
            ann.textbounds[tb.id] = tb
            continue
        line = line.rstrip()  # E lines end with a space, R lines with a TAB
        if kind == "E":
            parts = line.split("\t")
            trigger = parts[1].split()[0].split(":") if len(parts) == 2 and parts[1].split() else []
            if len(trigger) != 2 or not all(trigger):
                raise ConversionError(path, f"an E line is '<id>\\t<type>:<trigger id> [<role>:<id> ...]': {line!r}", line=line_no)
            if parts[0] in events:
                raise ConversionError(path, f"id {parts[0]} is used twice (first on line {events[parts[0]][1]})",
                                      line=line_no)
            events[parts[0]] = (trigger[1], line_no)
            ann.ignored["E"] += 1
        elif kind in ("A", "M"):
            parts = line.split("\t")
            fields = parts[1].split() if len(parts) == 2 else []
            if len(fields) not in (2, 3):
                raise ConversionError(path, f"an attribute line is '<id>\\t<name> <target id> [<value>]': {line!r}", line=line_no)
            attribute_lines.append((fields[0], fields[1], fields[2] if len(fields) == 3 else True, line_no))
        elif kind == "R":
            ann.relations.append(parse_relation(line, path, line_no))
        elif kind in ("*", "#", "N"):
            ann.ignored[kind] += 1
        else:
            raise ConversionError(
                path, f"unknown annotation line (BRAT lines start with T, E, R, A, M, N, * or #): {line!r}", line=line_no
            )
    for eid, (trigger, line_no) in events.items():
        if trigger not in ann.textbounds:
            raise ConversionError(path, f"event {eid} has trigger {trigger!r}, which is not a T annotation", line=line_no)
    ann.relations = resolve_relations(ann.relations, ann.textbounds, events, path)
    first_set: Dict[Tuple[str, str], Tuple[str, int]] = {}  # (T id, name) -> (target, line) that set it
    for name, target, value, line_no in attribute_lines:
        if target in ann.textbounds:
            tid = target
        elif target in events:
            tid = events[target][0]
        else:
            raise ConversionError(path, f"attribute {name} targets unknown id {target!r}", line=line_no)
        attrs = ann.attributes.setdefault(tid, {})
        if name in attrs and attrs[name] != value:
            first_target, first_line = first_set[(tid, name)]
            if first_target == target:
                raise ConversionError(
                    path, f"conflicting {name} values on {target}: {attrs[name]!r} (line {first_line}) and {value!r}",
                    line=line_no,
                )
            # Two events on one trigger may differ (BRAT allows it); the entity has one value.
            ann.conflicts.append({
                "file": str(path), "line": line_no, "entity": tid, "attribute": name, "kept": attrs[name],
                "kept_from": f"{first_target} (line {first_line})", "dropped": value, "dropped_from": target,
                "rule": "the first attribute line wins",
            })
            continue
        first_set.setdefault((tid, name), (target, line_no))
        attrs[name] = value
        ann.attribute_targets.append(tid)
    return ann


def resolve_fragments(fragments: List[Tuple[int, int]], text: str) -> Tuple[int, int, Optional[str]]:
    """One contiguous (start, end) for a span's fragments, and the reason when
    that changed the span (see the module docstring for the policy)."""
    if len(fragments) == 1:
        return fragments[0][0], fragments[0][1], None
    gaps = [text[prev_end:start] for (_, prev_end), (start, _) in zip(fragments, fragments[1:])]
    if all(not gap.strip() for gap in gaps):
        return fragments[0][0], fragments[-1][1], "joined: fragments separated only by whitespace"
    longest = max(fragments, key=lambda f: f[1] - f[0])
    others = ", ".join(repr(text[s:e]) for s, e in fragments if (s, e) != longest)
    reason = (
        f"discontinuous: kept the longest fragment {text[longest[0]:longest[1]]!r} [{longest[0]}:{longest[1]}] "
        f"of {len(fragments)}; left out {others}"
    )
    return longest[0], longest[1], reason


def _segments(text: str, stem: str, one_doc_per_line: bool) -> List[Tuple[str, int, int]]:
    """(doc id, start, end) of each candidate Doc; blank lines are kept here
    (they are not Docs) so that offsets map to lines by position."""
    if not one_doc_per_line:
        return [(stem, 0, len(text))]
    # Lines end at \n, \r\n or a lone \r (old Mac files), as split_lines reads them.
    return [(f"{stem}:{line_no}", start, end) for line_no, (start, end) in enumerate(line_spans(text), start=1)]


def _set_sentence_starts(doc: Doc, spans) -> int:
    """Each line is a sentence; a line break inside an entity is not a boundary.
    Returns how many line starts were not made sentence starts for that reason."""
    inside = {i for span in spans for i in range(span.start + 1, span.end)}
    kept_together = 0
    for i, token in enumerate(doc):
        start = i == 0 or "\n" in doc[i - 1].text
        if start and i in inside:
            start = False
            kept_together += 1
        token.is_sent_start = start
    return kept_together


def convert_brat(input_path: Path, output_path: Path, label_map: LabelMap, lang: str = "en",
                 misaligned: str = "expand", ids_path: Optional[Path] = None, split_sentences: bool = True,
                 one_doc_per_line: bool = False, annotated_lines_only: bool = False,
                 attributes: Optional[Path] = None) -> ConversionReport:
    if annotated_lines_only and not one_doc_per_line:
        raise ValueError("annotated_lines_only needs one_doc_per_line")
    check_options(misaligned=misaligned, split_sentences=split_sentences, one_doc_per_line=one_doc_per_line,
                  annotated_lines_only=annotated_lines_only, attributes=attributes)
    links = AttributeLinks(LabelMap.from_file(Path(attributes))) if attributes is not None else None
    nlp = blank_nlp(lang)
    sources = [str(input_path)] + ([str(ids_path)] if ids_path is not None else [])
    report = ConversionReport("convert_brat", sources=sources, output=str(output_path))
    ignored: Counter = Counter({kind: 0 for kind in IGNORED_KINDS})
    relabelled: Counter = Counter()
    attrs_kept = attrs_dropped = skipped_lines = sentence_starts_kept_together = 0
    conflicts: List[Dict] = []
    docs = []
    left_out: List[Dict[str, str]] = []
    for stem, txt_path, ann_path in find_documents(input_path, ids_path, left_out):
        # BRAT counts a BOM as the character at offset 0; an empty text is a document without entities.
        text = read_text(txt_path, allow_empty=True, keep_bom=True)
        ann = parse_ann(ann_path, _read_ann_text(ann_path), text, txt_path.name)
        ignored.update(ann.ignored)
        conflicts += ann.conflicts
        segments = _segments(text, stem, one_doc_per_line)
        seg_starts = [start for _, start, _ in segments]
        per_segment: Dict[int, List[BratSpan]] = {}
        attr_segments: Dict[int, List[BratSpan]] = {}  # attribute spans, with the option
        annotated = set()
        for tb in ann.textbounds.values():
            report.read_entity(tb.type)
            first, last = tb.fragments[0][0], tb.fragments[-1][1]
            seg = bisect_right(seg_starts, first) - 1
            annotated.add(seg)
            _, seg_start, seg_end = segments[seg]
            target = label_map.map(tb.type, ann_path, tb.line)
            seg_text = text[seg_start:seg_end]
            if one_doc_per_line and not seg_text.strip():
                misplaced = "empty: span holds only whitespace (a blank line)"
            elif last > seg_end:
                misplaced = f"line-crossing: span runs past the end of line {seg + 1} (one doc per line)"
            else:
                misplaced = None
            if target not in (None, tb.type):
                relabelled[f"{tb.type}->{target}"] += 1
            fragments = [(s - seg_start, e - seg_start) for s, e in tb.fragments]
            # An entity, and with the option an attribute span: the same policies, each reported on its own.
            kinds = [(target, report, per_segment, dict(ann.attributes.get(tb.id, {})))]
            attr_label = links.label(tb.type, ann_path, tb.line) if links is not None else None
            if attr_label is not None:
                kinds.append((attr_label, links.notes, attr_segments, {}))
            for label, notes, out, attrs in kinds:
                dropped = "unmapped: label map drops this label" if label is None else misplaced
                if dropped:
                    notes.drop(EntityNote(str(ann_path), tb.line, label or tb.type, tb.text, first - seg_start,
                                          last - seg_start, dropped))
                    continue
                start, end, reason = resolve_fragments(fragments, seg_text)
                if reason is not None:
                    notes.change(EntityNote(str(ann_path), tb.line, label, tb.text, fragments[0][0],
                                            fragments[-1][1], reason, new_text=seg_text[start:end]))
                out.setdefault(seg, []).append(BratSpan(start, end, label, tb.line, attrs, ann_id=tb.id))
        kept_ids = set()
        for seg, (doc_id, seg_start, seg_end) in enumerate(segments):
            seg_text = text[seg_start:seg_end]
            if one_doc_per_line and not seg_text.strip():
                continue
            if annotated_lines_only and seg not in annotated:
                skipped_lines += 1
                continue
            report.documents_in += 1
            check_length(seg_text, nlp.max_length, txt_path, doc_id=doc_id)
            doc = nlp.make_doc(seg_text)
            spans = make_spans(doc, per_segment.get(seg, []), ann_path, report, misaligned)
            carried: List[SourceSpan] = []
            aligned = remove_overlaps(spans, ann_path, report, carried)
            doc.ents = [span for span, _ in aligned]
            doc.spans["brat"] = [span for span, _ in aligned]
            if split_sentences:
                sentence_starts_kept_together += _set_sentence_starts(doc, doc.ents)
            doc.user_data["id"] = doc_id
            doc.user_data["ent_attrs"] = {
                f"{span.start_char}:{span.end_char}": dict(src.attrs) for span, src in aligned if src.attrs
            }
            if links is not None:
                links.add_doc(doc, attr_segments.get(seg, []), spans, aligned, ann_path, misaligned)
            kept_ids.update(src.ann_id for _, src in aligned)
            kept_ids.update(src.ann_id for src in carried)
            report.add_doc(doc)
            docs.append(doc)
        relations = links.link(ann.relations, ann_path) if links is not None else ann.relations
        ignored["R"] += len(relations)
        kept = sum(tid in kept_ids for tid in ann.attribute_targets)
        attrs_kept += kept
        attrs_dropped += len(ann.attribute_targets) - kept
    report.notes["left_out_files"] = left_out
    report.notes["ignored_lines"] = dict(ignored)
    report.notes["attributes"] = {"kept": attrs_kept, "on_dropped_entities": attrs_dropped}
    report.notes["attribute_conflicts"] = conflicts
    if relabelled:
        report.notes["relabelled"] = dict(relabelled)
    if annotated_lines_only:
        report.notes["unannotated_lines_skipped"] = skipped_lines
    if split_sentences:
        report.notes["line_breaks_inside_entities"] = sentence_starts_kept_together
    report.notes["options"] = {
        "split_sentences": split_sentences, "one_doc_per_line": one_doc_per_line,
        "annotated_lines_only": annotated_lines_only, "misaligned": misaligned, "lang": lang,
    }
    if links is not None:
        links.write_notes(report)
        report.notes["options"]["attributes"] = str(attributes)
    write_docbin(docs, output_path, input_path)
    return report
