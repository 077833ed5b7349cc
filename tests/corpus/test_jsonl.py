import json

import pytest
import spacy
import srsly
from spacy.tokens import DocBin

from med_ner.corpus.conversion import LabelMap

from med_ner.corpus.reading import ConversionError
from med_ner.corpus.jsonl import convert_jsonl

LABELS = LabelMap(["DISEASE", "SYMPTOM", "DRUG", "BODY_PART", "TEST", "PROCEDURE"])
TEXT = "she was suffering from Malaria and fits so to cure she used amodiaquine"


def span(text, sub, label, nth=0):
    start = -1
    for _ in range(nth + 1):
        start = text.index(sub, start + 1)
    return {"start": start, "end": start + len(sub), "label": label}


def write_jsonl(path, records):
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def read_docs(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def test_good_input_round_trips(tmp_path):
    spans = [span(TEXT, "Malaria", "DISEASE"), span(TEXT, "fits", "SYMPTOM"), span(TEXT, "amodiaquine", "DRUG")]
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": TEXT, "spans": spans}, {"text": "no findings"}])
    report = convert_jsonl(src, tmp_path / "out.spacy", LABELS)
    docs = read_docs(tmp_path / "out.spacy")
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Malaria", "DISEASE"), ("fits", "SYMPTOM"), ("amodiaquine", "DRUG")]
    assert docs[0].user_data["id"] == "a" and docs[1].ents == ()
    assert report.documents_in == report.documents_out == 2
    assert sum(report.entities_out.values()) == 3 and not report.dropped and not report.changed


def test_misaligned_span_is_expanded_and_reported(tmp_path):
    bad = {"start": TEXT.index("Malaria") + 1, "end": TEXT.index("Malaria") + 7, "label": "DISEASE"}
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": TEXT, "spans": [bad]}])
    report = convert_jsonl(src, tmp_path / "out.spacy", LABELS)
    assert [e.text for e in read_docs(tmp_path / "out.spacy")[0].ents] == ["Malaria"]
    assert len(report.changed) == 1
    note = report.changed[0]
    assert (note.line, note.text, note.new_text) == (1, "alaria", "Malaria") and note.reason.startswith("misaligned")


def test_misaligned_span_is_an_error_in_strict_mode(tmp_path):
    bad = {"start": TEXT.index("Malaria") + 1, "end": TEXT.index("Malaria") + 7, "label": "DISEASE"}
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "ok", "spans": []}, {"text": TEXT, "spans": [bad]}])
    with pytest.raises(ConversionError) as err:
        convert_jsonl(src, tmp_path / "out.spacy", LABELS, misaligned="error")
    assert f"in.jsonl:2 (offset {bad['start']})" in str(err.value) and "token boundaries" in str(err.value)


def test_overlap_keeps_longest_and_reports_loser(tmp_path):
    text = "pain on left hip today"
    spans = [span(text, "left hip", "BODY_PART"), span(text, "hip", "BODY_PART"), span(text, "pain", "SYMPTOM")]
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": text, "spans": spans}])
    report = convert_jsonl(src, tmp_path / "out.spacy", LABELS)
    assert [e.text for e in read_docs(tmp_path / "out.spacy")[0].ents] == ["pain", "left hip"]
    assert [(n.text, n.line) for n in report.dropped] == [("hip", 1)]
    assert "left hip" in report.dropped[0].reason
    report.check()


def test_unknown_label_names_file_and_line(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "x", "spans": []}, {"text": TEXT, "spans": [span(TEXT, "fits", "SEIZURE")]}])
    with pytest.raises(ConversionError, match=r"in\.jsonl:2: unknown label 'SEIZURE'"):
        convert_jsonl(src, tmp_path / "out.spacy", LABELS)


def test_label_map_drops_are_counted_and_listed(tmp_path):
    lm = LabelMap(["DISEASE"], {"Date": None, "Disease_disorder": "DISEASE"})
    text = "malaria since 2019"
    spans = [span(text, "malaria", "Disease_disorder"), span(text, "2019", "Date")]
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": text, "spans": spans}])
    report = convert_jsonl(src, tmp_path / "out.spacy", lm)
    assert [(e.text, e.label_) for e in read_docs(tmp_path / "out.spacy")[0].ents] == [("malaria", "DISEASE")]
    assert dict(report.entities_in) == {"Disease_disorder": 1, "Date": 1}
    assert dict(report.entities_out) == {"DISEASE": 1}
    assert [(n.label, n.text) for n in report.dropped] == [("Date", "2019")]


@pytest.mark.parametrize(
    "line,message",
    [
        ('{"text": "abc", "spans": [{"start": 1, "end": 9, "label": "DRUG"}]}', r"in\.jsonl:1 \(offset 1\): DRUG span \[1:9\] lies outside the text"),
        ('{"text": "abc", "spans": [{"start": 2, "end": 2, "label": "DRUG"}]}', r"in\.jsonl:1 \(offset 2\).*empty"),
        ('{"text": "abc", "spans": [{"start": 0, "label": "DRUG"}]}', r"in\.jsonl:1: span 0 needs"),
        ('{"text": "abc", "spans": [}', r"in\.jsonl:1 \(offset \d+\): invalid JSON"),
        ('{"spans": []}', r"in\.jsonl:1: each line must be an object with a 'text' string"),
        ('{"text": "abc def", "spans": [{"start": 0, "end": 3, "label": "DRUG", "text": "xyz"}]}', r"quotes 'xyz' but the text there is 'abc'"),
    ],
)
def test_bad_records_name_file_and_line(tmp_path, line, message):
    src = tmp_path / "in.jsonl"
    src.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ConversionError, match=message):
        convert_jsonl(src, tmp_path / "out.spacy", LABELS)


def test_empty_and_non_utf8_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ConversionError, match=r"empty\.jsonl: file is empty"):
        convert_jsonl(empty, tmp_path / "out.spacy", LABELS)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"text": "ok", "spans": []}\n{"text": "caf\xe9", "spans": []}\n')
    with pytest.raises(ConversionError, match=r"latin\.jsonl:2: not valid UTF-8 \(byte 0xe9 at byte offset 41\)"):
        convert_jsonl(latin, tmp_path / "out.spacy", LABELS)


def test_whitespace_is_trimmed_and_reported(tmp_path):
    text = "has  fever  today"
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": text, "spans": [{"start": 3, "end": 12, "label": "SYMPTOM"}]}])
    report = convert_jsonl(src, tmp_path / "out.spacy", LABELS)
    assert [e.text for e in read_docs(tmp_path / "out.spacy")[0].ents] == ["fever"]
    assert report.changed[0].reason.startswith("whitespace") and report.changed[0].new_text == "fever"


def test_prodigy_reject_and_doccano_shapes(tmp_path):
    records = [
        {"text": "took aspirin", "spans": [{"start": 5, "end": 12, "label": "DRUG"}], "answer": "reject"},
        {"text": "took aspirin", "label": [[5, 12, "DRUG"]]},
    ]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    report = convert_jsonl(src, tmp_path / "out.spacy", LABELS)
    docs = read_docs(tmp_path / "out.spacy")
    assert len(docs) == 1 and [e.text for e in docs[0].ents] == ["aspirin"]
    assert report.skipped_documents[0]["line"] == 1 and report.dropped[0].reason.startswith("skipped")
    report.check()


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_cli_writes_report_and_exits_cleanly_on_error(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    good = write_jsonl(tmp_path / "good.jsonl", [{"text": TEXT, "spans": [span(TEXT, "fits", "SYMPTOM")]}])
    script = "-m", "med_ner", "convert", "jsonl"
    run = subprocess.run([sys.executable, *script, str(good), str(tmp_path / "c" / "good.spacy"), "--label-map",
                          str(ROOT / "assets" / "labels" / "med_ner.json")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    report = srsly.read_json(tmp_path / "c" / "reports" / "good.json")
    assert report["entities_out"] == {"SYMPTOM": 1} and report["documents_out"] == 1
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": TEXT, "spans": [span(TEXT, "fits", "FITS")]}])
    run = subprocess.run([sys.executable, *script, str(bad), str(tmp_path / "bad.spacy"), "--label-map",
                          str(ROOT / "assets" / "labels" / "med_ner.json")], capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "bad.jsonl:1: unknown label 'FITS'" in run.stderr
    assert not (tmp_path / "bad.spacy").exists()


def test_shipped_sample_converts_without_changes(tmp_path):
    from conftest import ROOT

    for split in ("train", "dev", "test"):
        report = convert_jsonl(ROOT / "assets" / "sample" / f"{split}.jsonl", tmp_path / f"{split}.spacy",
                               LabelMap.from_file(ROOT / "assets" / "labels" / "med_ner.json"))
        assert not report.dropped and not report.changed, (split, report.dropped[:3], report.changed[:3])
        assert set(report.entities_out) == {"DISEASE", "SYMPTOM", "DRUG", "BODY_PART", "TEST", "PROCEDURE"}
