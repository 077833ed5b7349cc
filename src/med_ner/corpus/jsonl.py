"""Convert JSONL span annotations to a spaCy DocBin.

One record a line (lines end at \n only: a raw U+2028 or U+0085 inside a JSON
string is text), its spans under exactly one of:
- "spans": [{"start", "end", "label"[, "text"]}] (Prodigy),
- "entities": the same dicts, or [start, end, label] lists (spaCy's own shape),
- "label" / "labels": [[start, end, "LABEL"], ...] (doccano),
- "annotations": [{"result": [{"value": {"start", "end", "labels": [...]}}]}]
  with the text under "data": {"text"} (a Label Studio export; one annotation
  per task, other result types such as relations are counted in the report).
A record that holds spans under another key, or under two of these, is an
error: spans are never left behind unread. Prodigy records with "answer"
other than "accept" are skipped and reported. Ids must not repeat.
"""
from collections import Counter
from pathlib import Path
from typing import Any, List, Optional, Tuple

from med_ner.corpus.conversion import (ConversionReport, EntityNote, LabelMap, SourceSpan, make_spans, remove_overlaps,
                                       write_docbin, check_options)

from med_ner.corpus.reading import ConversionError, blank_nlp, read_jsonl, check_length


SPAN_KEYS = ("spans", "entities", "label", "labels", "annotations")
RawSpan = Tuple[Any, Any, Any, Optional[str]]  # start, end, label, quoted text


def _looks_like_spans(value: Any) -> bool:
    """A list of {"start", "end", "label(s)"} dicts or of [start, end, label] lists."""
    if not isinstance(value, list) or not value:
        return False
    return all(isinstance(v, dict) and {"start", "end"} <= set(v) and ({"label", "labels"} & set(v)) for v in value) \
        or all(isinstance(v, list) and len(v) == 3 and isinstance(v[2], str) for v in value)


def _record_text(record: dict, path: Path, line: int) -> str:
    text = record.get("text")
    if text is None and isinstance(record.get("data"), dict):
        text = record["data"].get("text")  # Label Studio
    if not isinstance(text, str):
        raise ConversionError(path, "each line must be an object with a 'text' string (or Label Studio's "
                                    "'data': {'text': ...})", line=line)
    return text


def _span_key(record: dict, path: Path, line: int) -> Optional[str]:
    """The one key this record's spans are under (None: no spans)."""
    present = [key for key in SPAN_KEYS if record.get(key) is not None]
    if len(present) > 1:
        raise ConversionError(path, f"spans under both {present[0]!r} and {present[1]!r}: "
                                    "give them under one key", line=line)
    unread = [key for key, value in record.items() if key not in SPAN_KEYS and _looks_like_spans(value)]
    if unread:
        raise ConversionError(path, f"key {unread[0]!r} looks like spans, which this converter does not read "
                                    f"from that key (it reads {', '.join(SPAN_KEYS)})", line=line)
    return present[0] if present else None


def _dict_span(s: Any, where: str, path: Path, line: int) -> RawSpan:
    if not isinstance(s, dict) or not {"start", "end", "label"} <= set(s):
        raise ConversionError(path, f"{where} needs 'start', 'end' and 'label': {s!r}", line=line)
    return s["start"], s["end"], s["label"], s.get("text")


def _list_span(s: Any, where: str, path: Path, line: int) -> RawSpan:
    if not isinstance(s, (list, tuple)) or len(s) != 3:
        raise ConversionError(path, f"{where} must be [start, end, label]: {s!r}", line=line)
    return s[0], s[1], s[2], None


def _label_studio_spans(annotations: list, path: Path, line: int, report: ConversionReport) -> List[RawSpan]:
    kept = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    if len(kept) > 1:
        raise ConversionError(path, f"{len(kept)} Label Studio annotations of one task (several annotators?): "
                                    "export one annotation per task", line=line)
    items = []
    results = kept[0].get("result", []) if kept else []
    if not isinstance(results, list):
        raise ConversionError(path, "annotations[0].result must be a list", line=line)
    for i, result in enumerate(results):
        value = result.get("value") if isinstance(result, dict) else None
        if not isinstance(value, dict) or not {"start", "end"} <= set(value):
            kind = result.get("type", "unknown") if isinstance(result, dict) else type(result).__name__
            report.notes.setdefault("label_studio_results_not_spans", Counter())[kind] += 1
            continue
        labels = value.get("labels")
        if not isinstance(labels, list) or not labels:
            raise ConversionError(path, f"annotations[0].result[{i}].value needs a 'labels' list: {value!r}", line=line)
        items += [(value["start"], value["end"], label, value.get("text")) for label in labels]
    return items


def _read_spans(record: dict, path: Path, line: int, n_chars: int, report: ConversionReport) -> List[SourceSpan]:
    key = _span_key(record, path, line)
    raw = record.get(key) if key else []
    if not isinstance(raw, list):
        hint = " of [start, end, label]" if key in ("label", "labels") else ""
        raise ConversionError(path, f"{key!r} must be a list{hint}, not {type(raw).__name__}", line=line)
    if key == "annotations":
        items = _label_studio_spans(raw, path, line, report)
    elif key == "spans":
        items = [_dict_span(s, f"span {i}", path, line) for i, s in enumerate(raw)]
    elif key == "entities":
        items = [(_dict_span if isinstance(s, dict) else _list_span)(s, f"entity {i}", path, line)
                 for i, s in enumerate(raw)]
    else:
        items = [_list_span(s, f"{key} {i}", path, line) for i, s in enumerate(raw)]
    spans = []
    for start, end, label, quoted in items:
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)) \
                or not isinstance(label, str) or not label:
            raise ConversionError(path, f"span needs integer start/end and a label: {(start, end, label)!r}", line=line)
        if not 0 <= start < end <= n_chars:
            raise ConversionError(
                path, f"{label} span [{start}:{end}] lies outside the text (0..{n_chars}) or is empty",
                line=line, offset=start,
            )
        spans.append(SourceSpan(start, end, label, line, {"quoted": quoted} if quoted is not None else {}))
    return spans


def convert_jsonl(input_path: Path, output_path: Path, label_map: LabelMap, lang: str = "en",
                  misaligned: str = "expand") -> ConversionReport:
    check_options(misaligned=misaligned)
    nlp = blank_nlp(lang)
    report = ConversionReport("convert_jsonl", sources=[str(input_path)], output=str(output_path))
    docs = []
    seen_ids = {}
    for line_no, record in read_jsonl(input_path):
        report.documents_in += 1
        if not isinstance(record, dict):
            raise ConversionError(input_path, "each line must be a JSON object", line=line_no)
        text = _record_text(record, input_path, line_no)
        if "id" in record:
            doc_id = str(record["id"])
            if doc_id in seen_ids:
                raise ConversionError(input_path, f"id {doc_id!r} repeats line {seen_ids[doc_id]}", line=line_no)
            seen_ids[doc_id] = line_no
        spans = _read_spans(record, input_path, line_no, len(text), report)
        for s in spans:
            report.read_entity(s.label)
        if record.get("answer", "accept") != "accept":
            report.skipped_documents.append(
                {"file": str(input_path), "line": line_no, "reason": f"answer is {record['answer']!r}"}
            )
            for s in spans:
                report.drop(EntityNote(str(input_path), line_no, s.label, text[s.start:s.end], s.start, s.end,
                                       f"skipped: record answer is {record['answer']!r}"))
            continue
        kept = []
        for s in spans:
            quoted = s.attrs.get("quoted")
            if quoted is not None and quoted != text[s.start:s.end]:
                raise ConversionError(
                    input_path, f"span [{s.start}:{s.end}] quotes {quoted!r} but the text there is "
                    f"{text[s.start:s.end]!r}", line=line_no, offset=s.start,
                )
            target = label_map.map(s.label, input_path, line_no)
            if target is None:
                report.drop(EntityNote(str(input_path), line_no, s.label, text[s.start:s.end], s.start, s.end,
                                       "unmapped: label map drops this label"))
                continue
            if target != s.label:
                report.notes.setdefault("relabelled", Counter()).update([f"{s.label}->{target}"])
            kept.append(SourceSpan(s.start, s.end, target, line_no))
        check_length(text, nlp.max_length, input_path, line_no)
        doc = nlp.make_doc(text)
        aligned = remove_overlaps(make_spans(doc, kept, input_path, report, misaligned), input_path, report)
        doc.ents = [span for span, _ in aligned]
        doc.user_data["id"] = record.get("id", f"{input_path.name}:{line_no}")
        report.add_doc(doc)
        docs.append(doc)
    for counted in ("relabelled", "label_studio_results_not_spans"):
        if counted in report.notes:
            report.notes[counted] = dict(report.notes[counted])
    write_docbin(docs, output_path, input_path)
    return report
