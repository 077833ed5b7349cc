import subprocess
import sys

import pytest
import spacy
import srsly
from spacy.tokens import DocBin

from conftest import ROOT, corpus_dir

SCRIPT = "-m", "med_ner", "convert", "corpus"


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *SCRIPT, *args], capture_output=True, text=True, cwd=str(cwd))


def test_every_table_entry_is_complete():
    table = srsly.read_yaml(ROOT / "configs" / "corpora.yml")
    assert "sample" in table and "MACCROBAT" in table
    for name, entry in table.items():
        assert entry["format"] in ("jsonl", "iob", "brat"), name
        # Chia has no official test split (its other trials are held out).
        assert set(entry["splits"]) == ({"train", "dev"} if name == "Chia" else {"train", "dev", "test"}), name
        assert entry["source"]["name"] and entry["source"]["license"], name
        if entry.get("label_map"):
            assert (ROOT / entry["label_map"]).exists(), name
        if entry.get("options", {}).get("attributes"):
            assert (ROOT / entry["options"]["attributes"]).is_file(), name


def test_sample_converts_to_three_docbins(tmp_path):
    proc = run("sample", "--output", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    nlp = spacy.blank("en")
    n_docs = {s: len(list(DocBin().from_disk(tmp_path / f"{s}.spacy").get_docs(nlp.vocab))) for s in ("train", "dev", "test")}
    n_lines = {s: len((ROOT / f"assets/sample/{s}.jsonl").read_text().splitlines()) for s in ("train", "dev", "test")}
    assert n_docs == n_lines
    for split in ("train", "dev", "test"):
        assert srsly.read_json(tmp_path / "reports" / f"{split}.json")["documents_out"] == n_docs[split]


def test_unknown_corpus_and_missing_assets_say_what_to_do(tmp_path):
    proc = run("nope", "--output", str(tmp_path))
    assert proc.returncode == 1 and "unknown corpus 'nope'" in proc.stderr and "sample" in proc.stderr
    proc = run("BC5CDR", "--output", str(tmp_path), "--assets", str(tmp_path / "empty"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "train.tsv: not found: fetch the corpus with `spacy project assets`" in proc.stderr


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
@pytest.mark.integration
def test_multi_part_test_split_keeps_ids_unique(tmp_path):
    source = corpus_dir("eHealth-KD-2020")
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "eHealth-KD-2020").symlink_to(source)
    proc = run("eHealth-KD-2020", "--output", str(tmp_path / "out"), "--assets", str(assets))
    assert proc.returncode == 0, proc.stderr
    docs = list(DocBin().from_disk(tmp_path / "out" / "test.spacy").get_docs(spacy.blank("es").vocab))
    # 100 annotated sentences from each of the four test scenarios, none of the unannotated ones.
    assert len(docs) == 400 and all(doc.ents for doc in docs)
    assert len({doc.user_data["id"] for doc in docs}) == 400


def test_a_corpus_without_a_test_split_converts_train_and_dev(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.jsonl").write_text(
        '{"text": "fever", "spans": [{"start": 0, "end": 5, "label": "SYMPTOM"}]}\n', encoding="utf-8")
    (tmp_path / "c.yml").write_text("x:\n  format: jsonl\n  splits:\n    train: [{path: a.jsonl}]\n"
                                    "    dev: [{path: a.jsonl}]\n", encoding="utf-8")
    proc = run("x", "--output", str(tmp_path / "out"), "--table", str(tmp_path / "c.yml"), "--assets", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.spacy")) == ["dev.spacy", "train.spacy"]
