"""The onnx-int8 recipe benchmark (bench.quantization) on a tiny
trained pipeline and a few sample documents."""
import json

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from conftest import ROOT
from bench.quantization import RECIPES, QuantizationBenchmarkError, compare_recipes, markdown_table
from benchmark import app

SHIPPED = "smoothed + uint8 embeddings, first FFN output float32 (shipped)"


@pytest.fixture
def dev_dir(tmp_path):
    nlp = spacy.blank("en")
    lines = (ROOT / "assets" / "sample" / "dev.jsonl").read_text(encoding="utf-8").splitlines()[:4]
    DocBin(docs=[nlp.make_doc(json.loads(line)["text"]) for line in lines]).to_disk(tmp_path / "dev.spacy")
    return tmp_path


def test_recipes_are_measured_against_float32_on_the_split_windows(tiny_trained_pipeline, dev_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    recipes = ["int8 (no smoothing)", SHIPPED]
    result = compare_recipes(str(tiny_trained_pipeline), dev_dir, "dev", tmp_path / "q.json", recipes, limit=6,
                             repeats=1)
    written = json.loads((tmp_path / "q.json").read_text())
    assert [row["recipe"] for row in written["rows"]] == recipes and written["windows"] == result["windows"]
    assert 1 <= result["windows"] <= 6 and result["word_pieces"] > 0
    rows = {row["recipe"]: row for row in result["rows"]}
    assert list(rows) == recipes
    for row in rows.values():
        assert 0 < row["relative_error"] < 0.5 and row["session_seconds"] > 0
    # uint8 embedding tables: the shipped file is smaller than one with float32 embeddings
    assert rows[SHIPPED]["file_mb"] < rows["int8 (no smoothing)"]["file_mb"]
    assert SHIPPED in markdown_table(result)


def test_unknown_recipes_and_missing_splits_are_rejected_before_any_work(tiny_trained_pipeline, dev_dir, tmp_path):
    with pytest.raises(QuantizationBenchmarkError, match="unknown recipes"):
        compare_recipes(str(tiny_trained_pipeline), dev_dir, "dev", tmp_path / "q.json", ["fp4"])
    result = CliRunner().invoke(app, ["quantization", str(tiny_trained_pipeline), str(dev_dir),
                                      "--output", str(tmp_path / "q.json"), "--split", "test"])
    assert result.exit_code != 0 and "error:" in result.output and "test.spacy" in result.output
    assert not (tmp_path / "q.json").exists()
    assert len(RECIPES) >= 4
