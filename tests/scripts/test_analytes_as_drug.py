"""scripts/analytes_as_drug.py: analytes a pipeline tags DRUG in lab-result sentences."""
import subprocess
import sys

import spacy
import srsly
from spacy.tokens import DocBin

from analytes_as_drug import analyte_name, check_docs, sentence_around
from conftest import ROOT


def test_analyte_names_ignore_specimen_words_and_sentences_end_outside_numbers():
    names = {"creatinine", "troponin i"}
    assert analyte_name("Serum creatinine", names) == "creatinine"
    assert analyte_name("plasma Troponin I", names) == "troponin i"
    assert analyte_name("creatine", names) == ""
    text = "Hb 7.2 g/dL; serum creatinine 1.4 mg/dL. Creatinine improved."
    start = text.index("serum")
    assert sentence_around(text, start, start + 16) == " serum creatinine 1.4 mg/dL"
    start = text.index("Creatinine")
    assert sentence_around(text, start, start + 10) == " Creatinine improved"


def test_drug_tags_of_analytes_are_counted_in_lab_result_sentences_only(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "DRUG", "pattern": [{"LOWER": "creatinine"}]},
                                               {"label": "TEST", "pattern": [{"LOWER": "potassium"}]},
                                               {"label": "DRUG", "pattern": [{"LOWER": "aspirin"}]}])
    texts = ["Serum creatinine was 1.4 mg/dL and potassium 3.1 mmol/L.", "Creatinine improved. Aspirin 81 mg daily."]
    result = check_docs(nlp.pipe(texts), {"creatinine", "potassium"})
    assert result["analyte_mentions"] == {"lab_result_sentences": {"DRUG": 1, "TEST": 1},
                                          "other_sentences": {"DRUG": 1}}
    assert result["drug_in_lab_result_sentences"] == 1
    assert result["examples"][0]["analyte"] == "creatinine"

    nlp.to_disk(tmp_path / "model")
    docbin = DocBin(docs=[nlp.make_doc(t) for t in texts])
    docbin.to_disk(tmp_path / "test.spacy")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "analytes_as_drug.py"), str(tmp_path / "model"),
                           str(tmp_path / "test.spacy"), "--output", str(tmp_path / "out.json")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert srsly.read_json(tmp_path / "out.json")["files"][str(tmp_path / "test.spacy")][
        "drug_in_lab_result_sentences"] == 1
    assert "| DRUG 1, TEST 1 | 1 |" in proc.stdout
