"""The ONNX export (med_ner.inference.onnx_export): built once per set of
weights in a child process and cached; a failed export leaves predictions in
float32 with a warning."""
import numpy
import pytest
import spacy

from med_ner.inference.runtimes import FastInferenceWarning
from med_ner.inference.transformer import inference_config
from conftest import hidden


def test_onnx_export_is_cached_by_weights(tiny_trained_pipeline, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("MED_NER_CACHE", str(tmp_path / "cache"))
    hidden(spacy.load(tiny_trained_pipeline, config=inference_config("onnx-int8")))
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].endswith("-int8.onnx"), files  # no temporary files left
    import onnx

    nodes = onnx.load(str(tmp_path / "cache" / files[0])).graph.node
    ops = {node.op_type for node in nodes}
    # int8 attention and embeddings, smoothed inputs (Mul) and int8 MatMuls,
    # but the first layer's FFN output projection (fed by a GELU) in float32
    assert {"QAttention", "QEmbedLayerNormalization", "Mul", "MatMulInteger"} <= ops, ops
    float_matmuls = [node.name for node in nodes if node.op_type == "MatMul"]
    assert len(float_matmuls) == 1 and "layer.0/output/dense" in float_matmuls[0], float_matmuls
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()}
    hidden(spacy.load(tiny_trained_pipeline, config=inference_config("onnx-int8")))
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()} == stamps

def test_failed_export_warns_and_predicts_in_float32(tiny_trained_pipeline, tmp_path, monkeypatch):
    """The export runs in a child process; one whose `onnx` cannot import (a broken
    install) fails, and predictions go on in float32 with a warning."""
    pytest.importorskip("onnxruntime")
    broken = tmp_path / "broken"
    (broken / "onnx").mkdir(parents=True)
    (broken / "onnx" / "__init__.py").write_text("raise ImportError('onnx is broken here')\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(broken))
    monkeypatch.setenv("MED_NER_CACHE", str(tmp_path / "empty-cache"))
    nlp = spacy.load(tiny_trained_pipeline, config=inference_config("onnx-int8"))
    with pytest.warns(FastInferenceWarning, match="exporting the transformer to ONNX failed"):
        fallback = hidden(nlp)
    assert numpy.array_equal(fallback, hidden(spacy.load(tiny_trained_pipeline)))
    assert not list((tmp_path / "empty-cache").rglob("*.onnx"))
