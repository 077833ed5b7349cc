"""A few steps of training from configs/ner_transformer_mix.cfg on a mix of the
sample corpus and a tiny drug-only corpus, then `evaluate mix` on both test splits."""
import json
import subprocess
import sys

import pytest
import spacy
import srsly
from spacy.tokens import Doc, DocBin, Span

from conftest import ROOT

RELEASE = ["DISEASE", "SYMPTOM", "DRUG", "BODY_PART", "TEST", "PROCEDURE"]
TABLE = {"release_labels": RELEASE,
         "corpora": {"sample": {"annotates": RELEASE}, "chem": {"annotates": ["DRUG"], "map": {"Chemical": "DRUG"}}}}


def write_chem_corpus(out):
    vocab = spacy.blank("en").vocab
    for split in ("train", "dev", "test"):
        db = DocBin(store_user_data=True)
        for i, drug in enumerate(["aspirin", "metformin", "heparin", "warfarin"]):
            doc = Doc(vocab, words=["She", "was", "given", drug, "for", "pain", "."])
            doc.set_ents([Span(doc, 3, 4, label="Chemical")], default="outside")
            db.add(doc)
        (out / "chem").mkdir(parents=True, exist_ok=True)
        db.to_disk(out / "chem" / f"{split}.spacy")


def write_terms(path):
    """A terms file for the release config's mention replacement."""
    srsly.write_jsonl(path, [{"term": "ibuprofen", "type": "DRUG"}, {"term": "naproxen", "type": "DRUG"},
                             {"term": "migraine", "type": "DISEASE"}, {"term": "nausea", "type": "SYMPTOM"}])
    return path


def med_ner(*args):
    return subprocess.run([sys.executable, "-m", "med_ner", *map(str, args)], capture_output=True, text=True,
                          cwd=str(ROOT))


@pytest.mark.slow  # about a minute on 2 shared cores
def test_mix_config_trains_and_evaluates_per_corpus(tmp_path, tiny_transformer):
    corpus_dir = tmp_path / "corpus"
    proc = med_ner("convert", "corpus", "sample", "--output", corpus_dir / "sample")
    assert proc.returncode == 0, proc.stderr
    write_chem_corpus(corpus_dir)
    srsly.write_yaml(tmp_path / "table.yml", TABLE)
    out = tmp_path / "training"
    proc = med_ner(
        "train", ROOT / "configs/ner_transformer_mix.cfg", "--output", out, "--paths.corpus_dir", corpus_dir,
        "--paths.harmonisation", tmp_path / "table.yml", "--paths.transformer", tiny_transformer,
        "--paths.terms", write_terms(tmp_path / "terms.jsonl"),
        "--corpora.train.weights", json.dumps({"sample": 0.7, "chem": 0.3}),
        "--corpora.dev.corpora", json.dumps(["sample", "chem"]), "--corpora.train.epoch_size", "40",
        "--corpora.train.outside", json.dumps({"chem": "known-mentions-missing"}),
        "--training.max_steps", "6", "--training.eval_frequency", "3",
        "--training.optimizer.learn_rate.warmup_steps", "1",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    nlp = spacy.load(out / "model-best")
    assert set(nlp.get_pipe("ner").labels) == set(RELEASE)
    # The dev union is scored per corpus, and the training log keeps those scores.
    rows = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 3, 6]
    assert all({"sample_ents_f", "chem_ents_f"} <= set(r["scores"]) for r in rows)

    metrics = tmp_path / "metrics"
    proc = med_ner("evaluate", "mix", out / "model-best", "--corpora", "sample,chem", "--corpus-dir", corpus_dir,
                   "--harmonisation", tmp_path / "table.yml", "--output", metrics)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = srsly.read_json(metrics / "test.json")
    assert list(result["corpora"]) == ["sample", "chem"]
    assert list(result["corpora"]["chem"]["ents_per_type"]) == ["DRUG"]  # only what chem annotates
    assert result["corpora"]["chem"]["entities"] == 4
    assert srsly.read_json(metrics / "chem" / "test.json")["split"] == "test"
    assert result["inference"] is None  # the pipeline's own runtime, recorded beside the scores
    table = (metrics / "test.md").read_text()
    assert "| chem | DRUG |" in table
    assert "| corpus | label | P | R | F1 | overlap P | overlap R | gold entities |" in table  # the style table
    style = table.split("| corpus | label |")[1].splitlines()
    assert [line.split(" | ")[:2] for line in style[2:4]] == [["| sample", "BODY_PART"], ["| sample", "DISEASE"]]
    assert len(next(line for line in style if line.startswith("| chem | DRUG | ")).split("|")) == 10
    assert result["without_split"] == []

    # A corpus without the split (no test.spacy) is listed, not scored.
    (corpus_dir / "chem" / "test.spacy").rename(corpus_dir / "chem" / "held.spacy")
    proc = med_ner("evaluate", "mix", out / "model-best", "--corpora", "sample,chem", "--corpus-dir", corpus_dir,
                   "--harmonisation", tmp_path / "table.yml", "--output", tmp_path / "metrics-2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(srsly.read_json(tmp_path / "metrics-2" / "test.json")["corpora"]) == ["sample"]
    assert "Without a test split (not scored): chem." in (tmp_path / "metrics-2" / "test.md").read_text()
    (corpus_dir / "chem" / "held.spacy").rename(corpus_dir / "chem" / "test.spacy")

    # The wheel's meta lists every corpus with its licence, label map and test scores.
    corpora = {"sample": {"source": {"name": "sample corpus", "license": "CC0-1.0"}},
               "chem": {"source": {"name": "drug sentences", "license": "CC BY 4.0"}}}
    srsly.write_yaml(tmp_path / "corpora.yml", corpora)
    proc = med_ner("package", "meta", out / "model-best", metrics / "test.json", tmp_path / "meta.json", "--name", "med_ner",
                   "--version", "0.0.1", "--table", tmp_path / "corpora.yml", "--harmonisation", tmp_path / "table.yml",
                   "--transformer", tiny_transformer)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = srsly.read_json(tmp_path / "meta.json")
    assert [c["name"] for c in meta["corpora"]] == ["sample", "chem"]
    chem = meta["corpora"][1]
    assert chem["source"]["license"] == "CC BY 4.0"
    assert chem["label_map"] == {"annotates": ["DRUG"], "map": {"Chemical": "DRUG"},
                                 "outside_gold_entities": "partial: read as the training config's corpora.train.outside says"}
    assert chem["test"]["entities"] == 4 and list(chem["test"]["ents_per_type"]) == ["DRUG"]
    assert [s["license"] for s in meta["sources"][:2]] == ["CC0-1.0", "CC BY 4.0"]
    assert meta["performance"]["ents_f"] == result["corpora"]["sample"]["ents_f"]
    # A corpus of the mix without a test split is in the meta, with its licence and no test scores.
    proc = med_ner("package", "meta", out / "model-best", tmp_path / "metrics-2" / "test.json", tmp_path / "meta-2.json",
                   "--name", "med_ner", "--version", "0.0.1", "--table", tmp_path / "corpora.yml",
                   "--harmonisation", tmp_path / "table.yml", "--transformer", tiny_transformer)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = srsly.read_json(tmp_path / "meta-2.json")["corpora"]
    assert [(c["name"], c["source"]["license"], c["test"] is None) for c in rows] == [
        ("sample", "CC0-1.0", False), ("chem", "CC BY 4.0", True)]


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_evaluate_mix_names_a_missing_split(tmp_path, tiny_transformer):
    srsly.write_yaml(tmp_path / "table.yml", TABLE)
    nlp = spacy.blank("en")
    nlp.add_pipe("ner").add_label("DRUG")
    nlp.initialize()
    nlp.to_disk(tmp_path / "model")
    proc = med_ner("evaluate", "mix", tmp_path / "model", "--corpora", "chem", "--corpus-dir", tmp_path / "none",
                   "--harmonisation", tmp_path / "table.yml", "--output", tmp_path / "metrics")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: not found: ") and "chem/train.spacy" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_evaluate_mix_rejects_an_unknown_runtime_before_scoring(tmp_path, tiny_transformer):
    srsly.write_yaml(tmp_path / "table.yml", TABLE)
    proc = med_ner("evaluate", "mix", tmp_path / "model", "--corpora", "chem", "--corpus-dir", tmp_path / "none",
                   "--harmonisation", tmp_path / "table.yml", "--output", tmp_path / "metrics", "--inference", "fast")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "'fast'" in proc.stderr and "onnx-int8" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "metrics").exists()


def train_tiny_mix(tmp_path, tiny_transformer, config, *extra):
    """Two steps on the tiny drug corpus; options in `extra` come last, so they override."""
    corpus_dir = tmp_path / "corpus"
    write_chem_corpus(corpus_dir)
    srsly.write_yaml(tmp_path / "table.yml", {"release_labels": RELEASE, "corpora": {"chem": TABLE["corpora"]["chem"]}})
    return med_ner(
        "train", config, "--output", tmp_path / "training", "--paths.corpus_dir", corpus_dir,
        "--paths.harmonisation", tmp_path / "table.yml", "--paths.transformer", tiny_transformer,
        "--paths.terms", write_terms(tmp_path / "terms.jsonl"),
        "--corpora.dev.corpora", json.dumps(["chem"]), "--corpora.train.outside", "{}",
        "--training.max_steps", "2", "--training.eval_frequency", "2",
        "--training.optimizer.learn_rate.warmup_steps", "1", *extra)


@pytest.mark.parametrize("extra, message", [
    (["--corpora.train.weights", '{"chem": -1}'], "weights must be positive numbers"),
    (["--corpora.train.outside", '{"chem": "nothing"}'], "outside['chem'] must be one of"),
])
@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_bad_mix_settings_are_an_error_before_training(tmp_path, tiny_transformer, extra, message):
    proc = train_tiny_mix(tmp_path, tiny_transformer, ROOT / "configs/ner_transformer_mix.cfg",
                          "--corpora.train.weights", '{"chem": 1}', *extra)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and message in proc.stderr and "[corpora]" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "training" / "model-best").exists()


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_release_config_names_a_missing_terms_file(tmp_path, tiny_transformer):
    proc = train_tiny_mix(tmp_path, tiny_transformer, ROOT / "configs/ner_transformer_mix.cfg",
                          "--corpora.train.weights", '{"chem": 1}', "--paths.terms", tmp_path / "absent.jsonl")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "absent.jsonl: terms file not found" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "training" / "model-best").exists()
