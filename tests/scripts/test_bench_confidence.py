"""`scripts/benchmark.py confidence` on the tiny pipeline with entity_confidence:
both rows in one process, the same transformer calls, the same entities at
threshold 0, the time inside the component, the JSON and the table."""
import json
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import DocBin

from conftest import BENCHMARK, ROOT
from bench.confidence import ConfidenceBenchmarkError, compare_confidence, markdown_table


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_trained_pipeline):
    root = tmp_path_factory.mktemp("confidence")
    nlp = spacy.load(tiny_trained_pipeline)
    nlp.add_pipe("entity_confidence", after="ner")
    nlp.to_disk(root / "model")
    blank = spacy.blank("en")
    docs = [blank.make_doc(json.loads(line)["text"])
            for line in (ROOT / "assets/sample/test.jsonl").read_text(encoding="utf-8").splitlines()[:6]]
    (root / "corpus").mkdir()
    DocBin(docs=docs).to_disk(root / "corpus" / "test.spacy")
    return root


def test_confidence_rows_alternate_in_one_process(setup, tmp_path):
    pytest.importorskip("onnxruntime")
    output = tmp_path / "confidence.json"
    result = compare_confidence(str(setup / "model"), setup / "corpus", output, "onnx-int8", rounds=2,
                                batch_size=4)
    without, with_ = result["rows"]
    assert (without["row"], with_["row"]) == ("without", "with") and result["documents"] == 6
    assert [p["round"] for p in result["passes"]["with"]] == [1, 2]
    assert all(r["words_per_second"] == max(r["words_per_second_by_round"]) > 0 for r in result["rows"])
    # The replay reads the transformer output on the docs: no extra transformer call.
    assert without["transformer_calls_per_pass"] == with_["transformer_calls_per_pass"] == [2]
    assert result["same_transformer_calls"] and result["same_entities"] and result["replay_mismatches"] == 0
    assert without["confidence_seconds_per_pass"] == 0 < with_["confidence_seconds_per_pass"]
    assert with_["entities"] == without["entities"] > 0
    assert json.loads(output.read_text(encoding="utf-8"))["rows"] == result["rows"]
    table = markdown_table(result)
    assert 0 < result["confidence_share"] < 1
    assert "| with entity_confidence |" in table and "Same transformer calls with and without: yes" in table


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_confidence_cli_names_a_pipeline_without_the_component(setup, tiny_trained_pipeline, tmp_path):
    proc = subprocess.run([sys.executable, BENCHMARK, "confidence", str(tiny_trained_pipeline), str(setup / "corpus"),
                           "--output", str(tmp_path / "out.json"), "--option", "float32", "--rounds", "1"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "has no entity_confidence" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out.json").exists()
    with pytest.raises(ConfidenceBenchmarkError, match="unknown inference option 'fp8'"):
        compare_confidence(str(setup / "model"), setup / "corpus", tmp_path / "x.json", "fp8")
    with pytest.raises(ConfidenceBenchmarkError, match="split.spacy not found"):
        compare_confidence(str(setup / "model"), setup / "corpus", tmp_path / "x.json", split="split")
