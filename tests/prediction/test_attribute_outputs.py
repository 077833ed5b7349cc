"""Linked attributes in every output path of prediction: the records, predict's
lines and --json, annotate's JSONL and DocBin, and the displaCy arcs view. The
docs carry exactly what an attribute linker sets (doc.spans["attributes"],
Span._.attributes, Span._.modifies), set by hand or by tests/attribute_component.py."""
import json
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import DocBin

import attribute_component  # noqa: F401  (registers test_attributes)
from med_ner.components.attribute_extensions import register_extensions
from med_ner.prediction import annotate, records, visualize
from med_ner.prediction.predict import entity_line, format_entities
from conftest import ROOT

CODE = str(ROOT / "tests" / "attribute_component.py")
TEXT = "Severe crushing chest pain. Hemoglobin was 7.2 g/dL today. Amoxicillin 500 mg orally for 7 days."
PATTERNS = [{"label": "BODY_PART", "pattern": "chest"}, {"label": "SYMPTOM", "pattern": "pain"},
            {"label": "TEST", "pattern": "Hemoglobin"}, {"label": "DRUG", "pattern": "Amoxicillin"}]


def at(text, part):
    start = text.index(part)
    return start, start + len(part)


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory):
    """(ruler only, ruler + test_attributes), saved."""
    base = tmp_path_factory.mktemp("attributes")
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(PATTERNS)
    nlp.to_disk(base / "plain")
    nlp.add_pipe("test_attributes")
    nlp.to_disk(base / "linked")
    return str(base / "plain"), str(base / "linked")


def test_register_extensions_is_idempotent():
    from spacy.tokens import Span

    register_extensions()
    register_extensions()
    register_extensions(force=True)
    doc = spacy.blank("en")("no attributes here")
    span = doc[0:1]
    assert span._.attributes is None and span._.modifies is None and Span.has_extension("modifies")


def test_hand_set_doc_records_and_line():
    doc = spacy.blank("en")("severe chest pain, 5 days")
    pain = doc.char_span(*at(doc.text, "pain"), label="SYMPTOM")
    chest = doc.char_span(*at(doc.text, "chest"), label="BODY_PART")
    doc.ents = [chest, pain]
    doc.spans["attributes"] = [doc.char_span(*at(doc.text, "severe"), label="SEVERITY"),
                               doc.char_span(*at(doc.text, "5 days"), label="DURATION")]
    doc.spans["attributes"][0]._.modifies = {"label": "SYMPTOM", "text": "pain", "start": 13, "end": 17,
                                             "score": 0.9}
    doc.ents[1]._.attributes = [{"type": "SEVERITY", "text": "severe", "start": 0, "end": 6, "score": 0.912345},
                                {"type": "SITE", "text": "chest", "start": 7, "end": 12, "score": 0.5}]
    doc.ents[0]._.attributes = []
    ents = records.entity_records(doc)
    assert ents[0] == {"start": 7, "end": 12, "label": "BODY_PART", "text": "chest", "attributes": []}
    assert ents[1]["attributes"] == [{"type": "SEVERITY", "text": "severe", "start": 0, "end": 6, "score": 0.9123},
                                     {"type": "SITE", "text": "chest", "start": 7, "end": 12, "score": 0.5}]
    # No scores on the group: no "score"; an unlinked attribute keeps its place with head null.
    assert records.attribute_records(doc) == [
        {"start": 0, "end": 6, "label": "SEVERITY", "text": "severe", "head": {"start": 13, "end": 17,
                                                                               "label": "SYMPTOM"}},
        {"start": 19, "end": 25, "label": "DURATION", "text": "5 days", "head": None}]
    assert entity_line(doc.ents[1]) == "Entity: pain, Label: SYMPTOM, Severity: severe, Site: chest"
    assert entity_line(doc.ents[0]) == "Entity: chest, Label: BODY_PART"
    assert records.attribute_name("LAB_VALUE") == "Lab value"


def test_docs_without_the_component_keep_the_old_shape():
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(PATTERNS)
    doc = nlp(TEXT)
    assert records.attribute_records(doc) is None
    assert records.document_record(doc) == {"ents": records.entity_records(doc)}
    assert all("attributes" not in e for e in records.entity_records(doc))
    assert json.loads(next(format_entities([doc], True))) == {"text": TEXT, "ents": records.entity_records(doc)}
    assert not visualize.has_attributes(doc)


def predict(args):
    proc = subprocess.run([sys.executable, "-m", "med_ner", "predict", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_predict_lines_and_json(pipelines):
    _, linked = pipelines
    assert predict([TEXT, "--model", linked, "--code", CODE]) == [
        "Entity: chest, Label: BODY_PART",
        "Entity: pain, Label: SYMPTOM, Severity: Severe, Site: chest",
        "Entity: Hemoglobin, Label: TEST, Lab value: 7.2 g/dL",
        "Entity: Amoxicillin, Label: DRUG, Dosage: 500 mg, Route: orally"]
    [line] = predict([TEXT, "--model", linked, "--code", CODE, "--json"])
    record = json.loads(line)
    drug = record["ents"][3]
    assert drug["attributes"] == [
        {"type": "DOSAGE", "text": "500 mg", "start": TEXT.index("500"), "end": TEXT.index("500") + 6,
         "score": 0.875},
        {"type": "ROUTE", "text": "orally", "start": TEXT.index("orally"), "end": TEXT.index("orally") + 6,
         "score": 0.875}]
    assert record["attributes"][-1] == {"start": TEXT.index("7 days"), "end": len(TEXT) - 1, "label": "DURATION",
                                        "text": "7 days", "score": 0.625, "head": None}
    assert record["attributes"][0]["head"] == {"start": 22, "end": 26, "label": "SYMPTOM"}
    assert [a["label"] for a in record["attributes"]] == ["SEVERITY", "LAB_VALUE", "DOSAGE", "ROUTE", "DURATION"]


def test_annotate_jsonl_and_docbin(pipelines, tmp_path):
    plain, linked = pipelines
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": TEXT}) + "\n" + json.dumps({"id": "b", "text": "No pain."}) + "\n",
                   encoding="utf-8")
    annotate.annotate(src, tmp_path / "out.jsonl", linked, code=CODE, docbin=tmp_path / "out.spacy")
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    doc = spacy.load(linked)(TEXT)
    assert out[0] == {"id": "a", "text": TEXT, **records.document_record(doc)}
    assert out[0]["ents"][1]["attributes"][0]["text"] == "Severe"
    assert out[1]["attributes"] == [] and out[1]["ents"][0]["attributes"] == []
    [first, _] = DocBin().from_disk(tmp_path / "out.spacy").get_docs(spacy.blank("en").vocab)
    assert [(s.text, s.label_) for s in first.spans["attributes"]][:2] == [("Severe", "SEVERITY"),
                                                                           ("7.2 g/dL", "LAB_VALUE")]
    annotate.annotate(src, tmp_path / "plain.jsonl", plain)
    assert all(set(r) == {"id", "text", "ents"} for r in map(json.loads, (tmp_path / "plain.jsonl").read_text(
        encoding="utf-8").splitlines()))


def test_links_view_draws_each_link_as_an_arc(pipelines):
    doc = spacy.load(pipelines[1])(TEXT)
    view = visualize.links_view(doc)
    words = [w["text"] for w in view["words"]]
    assert words[:5] == ["Severe", "crushing", "chest", "pain", "."]
    arcs = {(words[a["start"]], words[a["end"]], a["label"], a["dir"]) for a in view["arcs"]}
    assert arcs == {("Severe", "pain", "Severity", "left"), ("chest", "pain", "Site", "left"),
                    ("Hemoglobin", "7.2 g/dL", "Lab value", "right"), ("Amoxicillin", "500 mg", "Dosage", "right"),
                    ("Amoxicillin", "orally", "Route", "right")}
    assert view["words"][words.index("7 days")]["tag"] == "DURATION"
    assert all(len(w["text"]) <= visualize.CHUNK_CHARS for w in view["words"] if not w["tag"])
    page = visualize.render_links([doc], ["note-1 <b>"])
    for label in ("Severity", "Site", "Lab value", "Dosage", "Route"):
        assert f">{label}</textPath>" in page
    assert page.count("class=\"displacy-arrow\"") == 5 and "note-1 &lt;b&gt;" in page


def test_visualize_writes_the_attributes_view(pipelines, tmp_path):
    plain, linked = pipelines
    nlp = spacy.blank("en")
    gold = nlp(TEXT)
    gold.ents = [gold.char_span(*at(TEXT, "pain"), label="SYMPTOM")]
    gold.user_data["id"] = "case-7"
    DocBin(docs=[gold], store_user_data=True).to_disk(tmp_path / "gold.spacy")
    assert visualize.write_views(spacy.load(linked), tmp_path / "gold.spacy", tmp_path / "views") == (1, True)
    page = (tmp_path / "views" / "attributes.html").read_text(encoding="utf-8")
    assert ">Route</textPath>" in page and "case-7" in page
    assert visualize.write_views(spacy.load(plain), tmp_path / "gold.spacy", tmp_path / "old") == (1, False)
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["errors.html", "predictions.html"]


def test_visualize_command_names_the_attributes_view(pipelines, tmp_path):
    _, linked = pipelines
    gold = spacy.blank("en")(TEXT)
    DocBin(docs=[gold]).to_disk(tmp_path / "gold.spacy")
    proc = subprocess.run([sys.executable, "-m", "med_ner", "visualize", linked, str(tmp_path / "gold.spacy"),
                           str(tmp_path / "views"), "--code", CODE], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("errors.html and " + str(tmp_path / "views" / "attributes.html"))
    assert ">Dosage</textPath>" in (tmp_path / "views" / "attributes.html").read_text(encoding="utf-8")
