"""The side-by-side benchmark: BIO decoding, scoring of foreign spans on the
gold tokenization, and `compare` running every system (tiny settings)."""
import json
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import DocBin

from bench import systems as benchmark
from conftest import BENCHMARK, ROOT

SYSTEMS = list(benchmark.SYSTEMS) + ["spacy-transformer-features"]


def test_tags_to_spans_handles_b_i_and_type_changes():
    doc = spacy.blank("en")("aspirin and low dose heparin cause bleeding")
    tags = ["B-DRUG", "O", "I-DRUG", "I-DRUG", "B-DRUG", "O", "I-DISEASE"]
    assert benchmark.tags_to_spans(doc, tags) == [(0, 7, "DRUG"), (12, 20, "DRUG"), (21, 28, "DRUG"), (35, 43, "DISEASE")]


def test_score_expands_foreign_spans_and_counts_them():
    nlp = spacy.blank("en")
    gold = nlp("Took aspirin-like drugs for migraine.")
    gold.ents = [gold.char_span(28, 36, label="DISEASE")]
    # "spirin" is inside the token "aspirin": expanded to it.
    result = benchmark.score([gold], [[(6, 12, "DRUG"), (28, 36, "DISEASE")]])
    assert (result["spans_expanded_to_tokens"], result["spans_dropped_overlapping"]) == (1, 0)
    assert (result["p"], result["r"]) == (0.5, 1.0)
    # Overlapping predictions: the one starting first (longest on ties) is kept, the other counted.
    result = benchmark.score([gold], [[(5, 17, "DRUG"), (6, 12, "DRUG")]])
    assert result["spans_dropped_overlapping"] == 1 and result["r"] == 0.0


@pytest.mark.slow
def test_compare_runs_every_system_and_writes_the_table(tmp_path, tiny_transformer):
    corpus = tmp_path / "corpus" / "sample"
    proc = subprocess.run([sys.executable, "-m", "med_ner", "convert", "corpus", "sample", "--output", str(corpus)],
                          capture_output=True, text=True, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    # A small train split keeps the four trainings short.
    nlp = spacy.blank("en")
    docs = list(DocBin().from_disk(corpus / "train.spacy").get_docs(nlp.vocab))[:30]
    DocBin(docs=docs, store_user_data=True).to_disk(corpus / "train.spacy")
    test_docs = list(DocBin().from_disk(corpus / "test.spacy").get_docs(nlp.vocab))
    out = tmp_path / "benchmarks"
    proc = subprocess.run([sys.executable, BENCHMARK, "systems", "compare", "sample",
                           "--corpus-root", str(tmp_path / "corpus"), "--output-dir", str(out),
                           "--transformer", str(tiny_transformer), "--epochs", "0.5",
                           "--systems", ",".join(SYSTEMS)],
                          capture_output=True, text=True, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "sample.json").read_text())
    assert [r["system"] for r in result["systems"]] == SYSTEMS
    for r in result["systems"]:
        lo, hi = r["test"]["f_ci95"]
        assert 0 <= lo <= r["test"]["f"] <= hi <= 1
        assert r["train_seconds"] > 0 and r["infer_words_per_second"] > 0
        assert r["train_peak_rss_mb"] > 100 and r["infer_peak_rss_mb"] > 100
        assert r["test"]["mentions_seen"] + r["test"]["mentions_unseen"] == sum(len(d.ents) for d in test_docs)
        assert 0 <= r["test"]["recall_unseen"] <= 1
    by_name = {r["system"]: r for r in result["systems"]}
    # The int8 row scores the spacy-transformer model, not a second training.
    assert by_name["spacy-transformer-int8"]["train_seconds"] == by_name["spacy-transformer"]["train_seconds"]
    assert by_name["spacy-transformer-int8"]["settings"]["inference"] == "int8"
    assert result["machine"]["cpu_count"] >= 1
    table = (out / "sample.md").read_text()
    assert table.count("\n| ") == 2 + len(SYSTEMS)
    # --reuse rebuilds the table from the per-system results without training again.
    (out / "sample.md").unlink()
    proc = subprocess.run([sys.executable, BENCHMARK, "systems", "compare", "sample",
                           "--corpus-root", str(tmp_path / "corpus"), "--output-dir", str(out), "--reuse",
                           "--systems", ",".join(SYSTEMS)], capture_output=True, text=True, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("reusing") == len(SYSTEMS)
    assert (out / "sample.md").read_text() == table
    # --rescore predicts again with the trained models and keeps the training figures.
    for system in ("spacy-transformer", "hf-trainer"):
        before = json.loads((out / "sample" / f"{system}.json").read_text())
        proc = subprocess.run([sys.executable, BENCHMARK, "systems", "system", system,
                               str(tmp_path / "corpus" / "sample"), "--output", str(out / "sample" / f"{system}.json"),
                               "--transformer", str(tiny_transformer), "--epochs", "0.5", "--rescore"],
                              capture_output=True, text=True, cwd=str(ROOT))
        assert proc.returncode == 0, proc.stderr[-3000:]
        after = json.loads((out / "sample" / f"{system}.json").read_text())
        assert after["train_seconds"] == before["train_seconds"] and after["test"]["f"] == before["test"]["f"]
    # --config and --set train a spaCy system with another config and overrides, and name the row
    # after the output file.
    proc = subprocess.run([sys.executable, BENCHMARK, "systems", "system", "spacy-transformer",
                           str(tmp_path / "corpus" / "sample"), "--output", str(out / "sample" / "experiment.json"),
                           "--transformer", str(tiny_transformer), "--epochs", "0.5",
                           "--config", str(ROOT / "configs" / "ner_transformer_features.cfg"),
                           "--set", "training.dropout=0.25"],
                          capture_output=True, text=True, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    experiment = json.loads((out / "sample" / "experiment.json").read_text())
    assert experiment["system"] == "experiment"
    assert experiment["settings"]["config"].endswith("ner_transformer_features.cfg")
    assert experiment["settings"]["transformer"] == str(tiny_transformer)
    trained_config = "{}.work/model/model-best/config.cfg"
    assert experiment["settings"]["overrides"] == ["training.dropout=0.25"]
    assert "MultiHashEmbed" in (out / "sample" / trained_config.format("experiment")).read_text()
    assert "dropout = 0.25" in (out / "sample" / trained_config.format("experiment")).read_text()
    assert "MultiHashEmbed" not in (out / "sample" / trained_config.format("spacy-transformer")).read_text()
