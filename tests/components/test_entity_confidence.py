"""entity_confidence on the tiny trained pipeline: the greedy replay reproduces
the ner, confidences lie in [0, 1], the threshold drops entities, the
calibration survives to_disk/from_disk, and the CLI shows the confidence."""
import json
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import DocBin

from conftest import ROOT
from med_ner.components.entity_confidence import CANDIDATES_KEY, biluo_tags, set_threshold
from med_ner.evaluation.calibration import Calibrator

TEXTS = [json.loads(line)["text"] for line in (ROOT / "assets/sample/test.jsonl").read_text(encoding="utf-8").splitlines()]


def ents(doc):
    return [(e.start, e.end, e.label_) for e in doc.ents]


@pytest.fixture(scope="module")
def dev_docbin(tmp_path_factory):
    nlp = spacy.blank("en")
    db = DocBin()
    for line in (ROOT / "assets/sample/dev.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        doc = nlp.make_doc(record["text"])
        spans = [doc.char_span(s["start"], s["end"], label=s["label"], alignment_mode="expand")
                 for s in record.get("spans", record.get("entities", []))]
        doc.ents = [s for s in spans if s is not None]
        db.add(doc)
    path = tmp_path_factory.mktemp("dev") / "dev.spacy"
    db.to_disk(path)
    return path


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, tiny_trained_pipeline, dev_docbin):
    """The tiny pipeline with entity_confidence, calibrated on dev by `med-ner calibrate`."""
    out = tmp_path_factory.mktemp("calibrated") / "model"
    proc = subprocess.run([sys.executable, "-m", "med_ner", "calibrate", str(tiny_trained_pipeline), str(dev_docbin),
                           "--output", str(out), "--candidates"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "platt calibration on" in proc.stdout
    return out


def test_replay_reproduces_the_ner_and_confidences_lie_in_0_1(tiny_trained_pipeline, calibrated):
    plain = [ents(d) for d in spacy.load(tiny_trained_pipeline).pipe(TEXTS)]
    nlp = spacy.load(calibrated)
    assert nlp.pipe_names == ["transformer", "ner", "entity_confidence"]
    component = nlp.get_pipe("entity_confidence")
    docs = list(nlp.pipe(TEXTS, batch_size=8))
    assert [ents(d) for d in docs] == plain and sum(map(len, plain)) > 0
    assert component.replay_mismatches == 0  # the greedy path of the replay is the ner's
    for doc in docs:
        assert all(0.0 <= e._.confidence <= 1.0 for e in doc.ents)
        assert [t.ent_iob_ for t in doc] == [t.ent_iob_ for t in doc]  # tokens keep their annotation
        assert biluo_tags(doc) == spacy.training.offsets_to_biluo_tags(
            doc, [(e.start_char, e.end_char, e.label_) for e in doc.ents])
    # The raw confidence is a probability that differs between entities (not a constant).
    assert component.raw_scores([]) == [] and list(nlp.pipe(["", " ", TEXTS[0]]))[0].ents == ()
    scores = {round(e._.confidence, 6) for d in docs for e in d.ents}
    assert len(scores) > 1
    # Single documents (nlp(text)) get the same confidences as batches.
    single = nlp(TEXTS[0])
    assert [round(e._.confidence, 5) for e in single.ents] == [round(e._.confidence, 5) for e in docs[0].ents]


def test_cached_move_validity_is_the_parsers_own(calibrated):
    """The replay looks up which ner moves are valid once per validity_key; with
    verify_validity every step is checked against spaCy's own is_valid, on
    documents with whitespace tokens and sentence starts (which constrain the moves)."""
    nlp = spacy.load(calibrated)
    component = nlp.get_pipe("entity_confidence")
    docs = []
    for text in TEXTS[:8]:
        doc = nlp.make_doc(text.replace(". ", ".\n\n ", 2))
        for token in doc[1:]:
            token.is_sent_start = doc[token.i - 1].text == "."
        docs.append(doc)
    assert any(t.is_space for d in docs for t in d)
    with nlp.select_pipes(disable=["entity_confidence"]):
        docs = list(nlp.pipe(docs))
    assert sum(len(d.ents) for d in docs) > 0
    cached = component.raw_scores(docs)
    component.verify_validity = True
    assert component.raw_scores(docs) == cached  # no AssertionError: every cached mask is the parser's
    assert component.replay_mismatches == 0


def test_threshold_one_drops_all_zero_keeps_all(tiny_trained_pipeline, calibrated):
    n_plain = sum(len(d.ents) for d in spacy.load(tiny_trained_pipeline).pipe(TEXTS))
    strict = spacy.load(calibrated, config={"components": {"entity_confidence": {"threshold": 1.0}}})
    docs = list(strict.pipe(TEXTS))
    assert sum(len(d.ents) for d in docs) == 0
    # Dropped entities stay available for review, with their scores.
    group = docs[0].spans[CANDIDATES_KEY]
    assert len(group) > 0 and len(group.attrs["scores"]) == len(group)
    assert all(0.0 <= s <= 1.0 for s in group.attrs["scores"])
    keep_all = spacy.load(calibrated)
    set_threshold(keep_all, 0.0)
    assert sum(len(d.ents) for d in keep_all.pipe(TEXTS)) == n_plain
    # A threshold between keeps exactly the entities at or above it.
    scores = sorted(e._.confidence for d in keep_all.pipe(TEXTS) for e in d.ents)
    middle = scores[len(scores) // 2]
    set_threshold(keep_all, middle)
    assert sum(len(d.ents) for d in keep_all.pipe(TEXTS)) == sum(s >= middle for s in scores)
    with pytest.raises(ValueError, match="between 0 and 1"):
        set_threshold(keep_all, 1.5)
    with pytest.raises(ValueError, match="no entity_confidence"):
        set_threshold(spacy.load(tiny_trained_pipeline), 0.5)


def test_calibration_survives_to_disk_and_bytes(calibrated, tmp_path):
    nlp = spacy.load(calibrated)
    calibrator = nlp.get_pipe("entity_confidence").calibrator
    assert calibrator.method == "platt" and calibrator.params["a"] != 1.0
    before = [[e._.confidence for e in d.ents] for d in nlp.pipe(TEXTS[:5])]
    nlp.to_disk(tmp_path / "again")
    again = spacy.load(tmp_path / "again")
    assert again.get_pipe("entity_confidence").calibrator.to_dict() == calibrator.to_dict()
    assert [[e._.confidence for e in d.ents] for d in again.pipe(TEXTS[:5])] == before
    from_bytes = spacy.load(calibrated).from_bytes(nlp.to_bytes())
    assert from_bytes.get_pipe("entity_confidence").calibrator.to_dict() == calibrator.to_dict()


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_calibrate_refits_and_cli_shows_confidence(calibrated, dev_docbin, tmp_path):
    out = tmp_path / "isotonic"
    proc = subprocess.run([sys.executable, "-m", "med_ner", "calibrate", str(calibrated), str(dev_docbin),
                           "--output", str(out), "--method", "isotonic", "--threshold", "0.0"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    nlp = spacy.load(out)
    assert nlp.pipe_names.count("entity_confidence") == 1 and nlp.get_pipe("entity_confidence").candidates
    assert nlp.get_pipe("entity_confidence").calibrator.method == "isotonic"
    proc = subprocess.run([sys.executable, "-m", "med_ner", "calibrate", str(calibrated), str(dev_docbin),
                           "--output", str(tmp_path / "x"), "--method", "temperature"], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.startswith("error: --method: 'temperature'")
    assert "Traceback" not in proc.stderr

    text = TEXTS[0]
    proc = subprocess.run([sys.executable, "-m", "med_ner", "predict", text, "--model", str(calibrated), "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = json.loads(proc.stdout.strip().splitlines()[-1])["ents"]
    assert records and all(0.0 <= r["confidence"] <= 1.0 for r in records)
    proc = subprocess.run([sys.executable, "-m", "med_ner", "predict", text, "--model", str(calibrated), "--json",
                           "--threshold", "1.0"], capture_output=True, text=True)
    assert json.loads(proc.stdout.strip().splitlines()[-1])["ents"] == []
    proc = subprocess.run([sys.executable, "-m", "med_ner", "predict", text, "--model", str(calibrated),
                           "--threshold", "2"], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.strip() == "error: --threshold: 2.0 is not between 0 and 1"


def test_onnx_int8_confidences_match_float32(calibrated):
    """The confidences of the entities both runtimes find differ by at most 0.02."""
    from med_ner.inference.loading import load_pipeline

    float32 = {i: {(e.start, e.end, e.label_): e._.confidence for e in d.ents}
               for i, d in enumerate(load_pipeline(str(calibrated), inference="float32").pipe(TEXTS))}
    int8 = {i: {(e.start, e.end, e.label_): e._.confidence for e in d.ents}
            for i, d in enumerate(load_pipeline(str(calibrated), inference="onnx-int8").pipe(TEXTS))}
    common = [(i, key) for i in float32 for key in float32[i] if key in int8[i]]
    assert len(common) >= 0.8 * sum(map(len, float32.values()))
    worst = max(abs(float32[i][key] - int8[i][key]) for i, key in common)
    assert worst <= 0.02, worst


def test_service_entities_carry_confidence_and_threshold(calibrated):
    """/v1/entities over loopback HTTP: records with "confidence"; the service's threshold setting drops entities."""
    import httpx

    sys.path.insert(0, str(ROOT / "tests" / "service"))
    from service_helpers import ServerThread

    from med_ner.service import ServiceSettings
    from med_ner.service.schemas import EntitiesResponse

    body = {"texts": TEXTS[:3]}
    with ServerThread(ServiceSettings(model=str(calibrated))) as running:
        response = httpx.post(f"{running.url}/v1/entities", json=body, timeout=60)
    assert response.status_code == 200, response.text
    EntitiesResponse.model_validate(response.json())
    found = [e for d in response.json()["documents"] for e in d["entities"]]
    assert found and all(0.0 <= e["confidence"] <= 1.0 for e in found)
    with ServerThread(ServiceSettings(model=str(calibrated), threshold=1.0)) as running:
        response = httpx.post(f"{running.url}/v1/entities", json=body, timeout=60)
    assert [d["entities"] for d in response.json()["documents"]] == [[], [], []]
