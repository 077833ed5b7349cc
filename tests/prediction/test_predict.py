import json
import subprocess
import sys

import pytest
import spacy

from med_ner.components import clinical_context


TEXT = "she was suffering from Malaria and fits so to cure she used amodiaquine"


@pytest.fixture(scope="module")
def ruler_pipeline(tmp_path_factory):
    """A real saved pipeline whose entities are known in advance."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "DISEASE", "pattern": "Malaria"}, {"label": "DRUG", "pattern": "amodiaquine"}])
    path = tmp_path_factory.mktemp("ruler") / "pipeline"
    nlp.to_disk(path)
    return path


def predict(args, stdin=None):
    proc = subprocess.run([sys.executable, "-m", "med_ner", "predict", *args], input=stdin,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_argument_prints_entity_lines(ruler_pipeline):
    assert predict([TEXT, "--model", str(ruler_pipeline)]) == [
        "Entity: Malaria, Label: DISEASE", "Entity: amodiaquine, Label: DRUG"]


def test_stdin_lines_as_json(ruler_pipeline):
    lines = predict(["--model", str(ruler_pipeline), "--lines", "--json"], stdin=f"{TEXT}\n\nno entities here\n")
    records = [json.loads(line) for line in lines]
    # A blank line is a text too: output line N belongs to input line N.
    assert [r["text"] for r in records] == [TEXT, "", "no entities here"]
    assert records[0]["ents"][0] == {"start": 23, "end": 30, "label": "DISEASE", "text": "Malaria"}
    assert records[1]["ents"] == []


def test_file_input(ruler_pipeline, tmp_path):
    path = tmp_path / "note.txt"
    path.write_text("Started amodiaquine.\n", encoding="utf-8")
    assert predict(["--model", str(ruler_pipeline), "--file", str(path)]) == ["Entity: amodiaquine, Label: DRUG"]


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_context_flags_in_text_and_json(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "SYMPTOM", "pattern": w} for w in ("fever", "rash")])
    nlp.add_pipe("clinical_context", config={"use_model": False}).initialize(
        lambda: [], nlp=nlp, triggers=str(clinical_context.default_triggers("en")))
    nlp.to_disk(tmp_path / "pipeline")
    args = ["No fever but a rash.", "--model", str(tmp_path / "pipeline")]
    assert predict(args) == ["Entity: fever, Label: SYMPTOM, Negated", "Entity: rash, Label: SYMPTOM"]
    record = json.loads(predict(args + ["--json"])[0])
    assert [(e["text"], e["negated"], e["uncertain"]) for e in record["ents"]] == [("fever", True, False), ("rash", False, False)]
