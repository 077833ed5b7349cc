"""Convert JSONL span annotations (Prodigy / doccano shape) to a spaCy DocBin.

Each line: {"text": "...", "spans": [{"start": 0, "end": 7, "label": "DISEASE"}]}
(doccano's {"text", "label": [[start, end, "LABEL"], ...]} is read too).
Prodigy records with "answer" other than "accept" are skipped and reported.
"""
import json
from collections import Counter
from pathlib import Path
from typing import List

import spacy

from med_ner.corpus.conversion import (
    ConversionError,
    ConversionReport,
    EntityNote,
    LabelMap,
    SourceSpan,
    make_spans,
    read_text,
    remove_overlaps,
    write_docbin,
)


def _read_spans(record: dict, path: Path, line: int, n_chars: int) -> List[SourceSpan]:
    if "spans" in record:
        raw = record["spans"] or []
        items = []
        for i, s in enumerate(raw):
            if not isinstance(s, dict) or not {"start", "end", "label"} <= set(s):
                raise ConversionError(path, f"span {i} needs 'start', 'end' and 'label': {s!r}", line=line)
            items.append((s["start"], s["end"], s["label"], s.get("text")))
    else:
        raw = record.get("label", record.get("labels", [])) or []
        items = []
        for i, s in enumerate(raw):
            if not isinstance(s, (list, tuple)) or len(s) != 3:
                raise ConversionError(path, f"label {i} must be [start, end, label]: {s!r}", line=line)
            items.append((s[0], s[1], s[2], None))
    spans = []
    for start, end, label, quoted in items:
        if not isinstance(start, int) or not isinstance(end, int) or not isinstance(label, str) or not label:
            raise ConversionError(path, f"span needs integer start/end and a label: {(start, end, label)!r}", line=line)
        if not 0 <= start < end <= n_chars:
            raise ConversionError(
                path, f"{label} span [{start}:{end}] lies outside the text (0..{n_chars}) or is empty",
                line=line, offset=start,
            )
        spans.append(SourceSpan(start, end, label, line, {"quoted": quoted} if quoted is not None else {}))
    return spans


def convert_jsonl(
    input_path: Path,
    output_path: Path,
    label_map: LabelMap,
    lang: str = "en",
    misaligned: str = "expand",
) -> ConversionReport:
    nlp = spacy.blank(lang)
    report = ConversionReport("convert_jsonl", sources=[str(input_path)], output=str(output_path))
    text_data = read_text(input_path)
    docs = []
    for line_no, line in enumerate(text_data.splitlines(), start=1):
        if not line.strip():
            continue
        report.documents_in += 1
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConversionError(input_path, f"invalid JSON: {err.msg}", line=line_no, offset=err.colno - 1) from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ConversionError(input_path, "each line must be an object with a 'text' string", line=line_no)
        text = record["text"]
        spans = _read_spans(record, input_path, line_no, len(text))
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
        doc = nlp.make_doc(text)
        aligned = remove_overlaps(make_spans(doc, kept, input_path, report, misaligned), input_path, report)
        doc.ents = [span for span, _ in aligned]
        doc.user_data["id"] = record.get("id", f"{input_path.name}:{line_no}")
        report.add_doc(doc)
        docs.append(doc)
    if "relabelled" in report.notes:
        report.notes["relabelled"] = dict(report.notes["relabelled"])
    write_docbin(docs, output_path)
    return report
