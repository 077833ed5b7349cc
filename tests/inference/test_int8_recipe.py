"""The onnx-int8 recipe (med_ner.inference.int8_recipe): activation
smoothing keeps the float graph equal and cuts the int8 error."""
import numpy
import pytest
import spacy

from med_ner.inference import int8_recipe
from med_ner.inference.onnx_export import build_onnx


@pytest.fixture(scope="module")
def trained(tiny_trained_pipeline):
    return tiny_trained_pipeline


def mean_error(exact, other):
    return numpy.abs(exact - other).mean() / numpy.abs(exact).mean()


def test_activation_smoothing_keeps_the_float_graph_equal(trained, tmp_path):
    """smooth_activations rewrites x @ W as (x / s) @ (s W) for every MatMul and
    fused attention that onnx-int8 quantizes; in float the outputs stay the same."""
    onnxruntime = pytest.importorskip("onnxruntime")
    import onnx

    shim = spacy.load(trained).get_pipe("transformer").model.layers[0].shims[0]
    shim._model.save_pretrained(tmp_path / "hf")
    shim._hfmodel.tokenizer.save_pretrained(tmp_path / "hf")
    plain, smoothed = tmp_path / "plain.onnx", tmp_path / "smoothed.onnx"
    build_onnx(tmp_path / "hf", plain, quantized=False)
    feeds = int8_recipe.calibration_feeds(shim._hfmodel.tokenizer)
    assert len(feeds) >= 20 and all(f["input_ids"].shape[1] <= 128 for f in feeds)
    keep_float = int8_recipe.first_ffn_output(onnx.load(str(plain)))
    assert len(keep_float) == 1 and "layer.0/output/dense" in keep_float[0]
    counts = int8_recipe.smooth_activations(plain, smoothed, feeds, skip=keep_float)

    targets = int8_recipe.smoothing_targets(onnx.load(str(plain)))
    assert {n.op_type for n in targets} == {"MatMul", "Attention"}
    attention = [n for n in targets if n.op_type == "Attention"]
    # each attention output projection's 1/s goes into that attention's value columns, no Mul
    assert counts == {"mul": len(targets) - 1 - len(attention), "folded_into_values": len(attention), "float32": 1}
    graph = onnx.load(str(smoothed)).graph
    assert sum(n.op_type == "Mul" and n.name.endswith("_smooth") for n in graph.node) == counts["mul"]
    scales = [onnx.numpy_helper.to_array(i) for i in graph.initializer if i.name.endswith("_smoothing")]
    assert any(not numpy.allclose(s, 1.0, rtol=0.05) for s in scales)  # it changed something

    feed = int8_recipe.calibration_feeds(shim._hfmodel.tokenizer)[3]
    before, after = (onnxruntime.InferenceSession(str(path)).run(["last_hidden_state"], feed)[0]
                     for path in (plain, smoothed))
    assert numpy.allclose(before, after, atol=1e-4, rtol=1e-3)

def test_activation_smoothing_cuts_int8_error_from_an_outlier_channel(tmp_path):
    """One input channel 40x larger than the rest (as in transformer LayerNorm
    outputs) costs per-tensor int8 activations their precision; smoothing first
    moves that range into the per-channel int8 weights."""
    pytest.importorskip("onnxruntime")
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    rng = numpy.random.default_rng(0)
    weight = rng.normal(size=(64, 32)).astype("float32")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="dense")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 32])], [numpy_helper.from_array(weight, "w")])
    source = tmp_path / "dense.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), str(source))

    def activations(n):
        x = rng.normal(size=(n, 64)).astype("float32")
        x[:, 5] *= 40
        return {"x": x}

    int8_recipe.smooth_activations(source, tmp_path / "smoothed.onnx", [activations(64) for _ in range(4)])
    int8_recipe.quantize_onnx(source, tmp_path / "int8.onnx")
    int8_recipe.quantize_onnx(tmp_path / "smoothed.onnx", tmp_path / "smoothed-int8.onnx")
    test = activations(256)
    exact = test["x"] @ weight
    plain_int8, smoothed_int8 = (onnxruntime.InferenceSession(str(tmp_path / name)).run(["y"], test)[0]
                                 for name in ("int8.onnx", "smoothed-int8.onnx"))
    assert mean_error(exact, smoothed_int8) < 0.6 * mean_error(exact, plain_int8)
