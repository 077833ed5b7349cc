"""`scripts/benchmark.py context`: clinical_context's negation/uncertainty flags
scored next to negspacy's on the same gold entities."""
import json
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import DocBin

from conftest import BENCHMARK, make_doc
from med_ner.components.clinical_context import default_triggers

TRIGGERS_EN = default_triggers("en")


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_benchmark_scores_ours_and_negspacy_on_the_same_entities(tmp_path):
    pytest.importorskip("negspacy")
    nlp = spacy.blank("en")
    nlp.add_pipe("clinical_context", config={"use_model": False}).initialize(lambda: [], nlp=nlp, triggers=str(TRIGGERS_EN))
    nlp.to_disk(tmp_path / "pipeline")
    docs = [
        make_doc(nlp, "She denies chest pain. Pneumonia was suspected.", [("chest pain", "SYMPTOM"), ("Pneumonia", "DISEASE")],
                 ["NEG", "UNCERTAIN"]),
        make_doc(nlp, "Steroids were discontinued and the rash resolved.", [("Steroids", "DRUG"), ("rash", "SYMPTOM")],
                 ["NEG", "NEG"]),
        make_doc(nlp, "No evidence of tumour in the liver.", [("tumour", "DISEASE"), ("liver", "BODY_PART")], ["NEG", None]),
    ]
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "test.spacy")
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, BENCHMARK, "context", str(tmp_path / "pipeline"),
                           str(tmp_path / "test.spacy"), "--output", str(out), "--gold-only"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["gold"]["gold_support"] == {"negated": 4, "uncertain": 1}
    ours = result["gold"]["systems"]["en_med_ner clinical_context"]
    negex = result["gold"]["systems"]["negspacy 1.1.0 (en_clinical)"]
    # Rules: all four negations found, plus the liver (a false positive under MACCROBAT's convention).
    assert (ours["negated"]["tp"], ours["negated"]["fp"], ours["negated"]["fn"]) == (4, 1, 0)
    assert ours["uncertain"]["tp"] == 1
    assert negex["uncertain"] is None and negex["negated"]["tp"] + negex["negated"]["fn"] == 4
    assert "| negspacy 1.1.0 (en_clinical) |" in out.with_suffix(".md").read_text()
