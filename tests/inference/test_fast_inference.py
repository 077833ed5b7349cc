"""The transformer's prediction runtimes (med_ner.inference.runtimes):
each is honoured by spacy.load through the config, stays near float32, falls
back to float32 with a warning where it cannot run, and never reaches what
training or to_disk see."""
import json
import os
import sys
import warnings

import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import Adam

from conftest import ROOT
from med_ner.inference import runtimes as fast_inference
from med_ner.inference.transformer import inference_config

TEXT = "She was suffering from malaria and fits, so she used amodiaquine; she has fever and pain on the hip."


@pytest.fixture(scope="module")
def trained(tiny_trained_pipeline):
    return tiny_trained_pipeline


@pytest.fixture(scope="module", autouse=True)
def module_cache(tmp_path_factory):
    """One ONNX cache for the module's tests (an export takes seconds), never the user's."""
    previous = os.environ.get("MED_NER_CACHE")
    os.environ["MED_NER_CACHE"] = str(tmp_path_factory.mktemp("onnx-cache"))
    yield
    if previous is None:
        del os.environ["MED_NER_CACHE"]
    else:
        os.environ["MED_NER_CACHE"] = previous


def hidden(nlp, text=TEXT):
    return nlp(text)._.trf_data.tensors[0]


def mean_error(exact, other):
    return numpy.abs(exact - other).mean() / numpy.abs(exact).mean()


@pytest.mark.parametrize("runtime,tolerance", [("int8", 0.05), ("onnx", 1e-4), ("onnx-int8", 0.05), ("bf16", 0.03)])
def test_runtime_is_honoured_by_spacy_load_and_stays_near_float32(trained, runtime, tolerance):
    if runtime == "bf16" and not fast_inference.cpu_has_bf16():
        pytest.skip("no bfloat16 instructions on this CPU")
    if runtime.startswith("onnx"):
        pytest.importorskip("onnxruntime")
    exact = hidden(spacy.load(trained))
    fast = spacy.load(trained, config=inference_config(runtime))
    assert fast.config["components"]["transformer"]["model"]["inference"] == runtime
    with warnings.catch_warnings():
        warnings.simplefilter("error", fast_inference.FastInferenceWarning)
        approximate = hidden(fast)
    assert approximate.shape == exact.shape
    assert mean_error(exact, approximate) < tolerance
    if runtime != "onnx":
        assert not numpy.array_equal(exact, approximate)  # the runtime took effect
    # A batch through nlp.pipe (padded to its longest text) gives near the same vectors as a
    # single call (dynamic int8 scales activations per batch, so not exactly the same).
    batch = list(fast.pipe([TEXT, "fever", TEXT + " " + TEXT]))
    length = approximate.shape[1]
    assert mean_error(approximate, batch[0]._.trf_data.tensors[0][:, :length]) < tolerance


def test_onnx_export_is_cached_by_weights(trained, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("MED_NER_CACHE", str(tmp_path / "cache"))
    hidden(spacy.load(trained, config=inference_config("onnx-int8")))
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
    hidden(spacy.load(trained, config=inference_config("onnx-int8")))
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()} == stamps


def test_updates_rebuild_the_runtime_and_to_disk_keeps_float_weights(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    nlp = spacy.load(trained, config=inference_config("onnx-int8", window=16))
    before = hidden(nlp)
    nlp.to_disk(tmp_path / "saved")
    saved = spacy.load(tmp_path / "saved", config=inference_config("float32"))
    assert numpy.array_equal(hidden(saved), hidden(spacy.load(trained)))
    optimizer = Adam(0.01)
    doc = nlp.make_doc(TEXT)
    for _ in range(3):
        nlp.update([Example.from_dict(doc, {"entities": [(23, 30, "DISEASE")]})], sgd=optimizer)
    assert not numpy.allclose(before, hidden(nlp), atol=1e-3)


def test_inference_spans_apply_to_predictions_only(trained):
    long_text = " ".join([TEXT] * 3)
    windowed = spacy.load(trained, config=inference_config("float32", window=8))
    model = windowed.get_pipe("transformer").model
    training_spans = model.attrs["get_spans"]
    doc = windowed(long_text)
    assert len(doc._.trf_data.wordpieces.strings) == -(-len(doc) // 8)  # non-overlapping windows of 8
    assert len(spacy.load(trained)(long_text)._.trf_data.wordpieces.strings) == 1  # the config's 128/96
    assert model.attrs["get_spans"] is training_spans  # restored after predicting


def test_missing_onnxruntime_warns_and_predicts_in_float32(trained, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    nlp = spacy.load(trained, config=inference_config("onnx-int8"))
    with pytest.warns(fast_inference.FastInferenceWarning, match="onnxruntime"):
        fallback = hidden(nlp)
    assert numpy.array_equal(fallback, hidden(spacy.load(trained)))


def test_missing_bf16_instructions_warn_and_predict_in_float32(trained, monkeypatch):
    monkeypatch.setattr(fast_inference, "cpu_has_bf16", lambda: False)
    nlp = spacy.load(trained, config=inference_config("bf16"))
    with pytest.warns(fast_inference.FastInferenceWarning, match="bfloat16"):
        fallback = hidden(nlp)
    assert numpy.array_equal(fallback, hidden(spacy.load(trained)))


def test_an_unknown_runtime_is_rejected():
    with pytest.raises(ValueError, match="onnx-int8"):
        inference_config("fp8")


def test_load_pipeline_maps_the_cli_options_to_overrides(trained):
    from med_ner.inference.loading import PipelineError, inference_overrides, load_pipeline

    assert inference_overrides() == {}
    assert inference_overrides(cpu_int8=True)["components.transformer.model.inference"] == "int8"
    assert inference_overrides(cpu_int8=True, inference="onnx")["components.transformer.model.inference"] == "onnx"
    with pytest.raises(PipelineError, match="choose one of"):
        load_pipeline(str(trained), inference="fp8")
    nlp = load_pipeline(str(trained), inference="int8", window=32)
    model_config = nlp.config["components"]["transformer"]["model"]
    assert model_config["inference"] == "int8" and model_config["inference_spans"]["window"] == 32


def test_predict_cli_takes_the_inference_option(trained):
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "med_ner", "predict", TEXT, "--model", str(trained), "--json",
                           "--inference", "int8"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[0])["text"] == TEXT
    proc = subprocess.run([sys.executable, "-m", "med_ner", "predict", TEXT, "--model", str(trained),
                           "--inference", "fp8"], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("rows_per_run,widths,at_once", [(3, [3, 7, 7], False), (1, [1, 2, 3, 4, 5, 7, 7], False),
                                                    (1, [1, 2, 3, 4, 5, 7, 7], True)])
def test_length_sorted_groups_give_each_row_what_a_whole_batch_gives(rows_per_run, widths, at_once):
    """A row's output may depend only on its own unpadded positions; grouping by
    length must then return, in the batch's order, what one whole run returns
    (1 row a run: the shipped default, every window at its own length), also
    when the runs go on at once in a thread pool (whose results come back in order)."""
    from concurrent.futures import ThreadPoolExecutor

    lengths = numpy.array([5, 1, 7, 3, 7, 2, 4])
    width = lengths.max()
    mask = (numpy.arange(width)[None, :] < lengths[:, None]).astype("int64")
    ids = numpy.arange(len(lengths) * width).reshape(len(lengths), width) * mask
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": numpy.zeros_like(ids)}
    widths_seen = []

    def run(part):
        widths_seen.append(part["input_ids"].shape[1])
        hidden = numpy.cumsum(part["input_ids"] * part["attention_mask"], axis=1)[..., None] * numpy.ones(3)
        return hidden.astype("float32"), part["attention_mask"].sum(axis=1, keepdims=True).astype("float32")

    whole_hidden, whole_pooled = run(feed)
    if at_once:
        with ThreadPoolExecutor(2) as pool:
            hidden, pooled = fast_inference.run_length_sorted(run, feed, rows_per_run=rows_per_run,
                                                              map_runs=pool.map)
        widths_seen[1:] = sorted(widths_seen[1:])  # started in order, appended as each thread gets to it
    else:
        hidden, pooled = fast_inference.run_length_sorted(run, feed, rows_per_run=rows_per_run)
    assert widths_seen[1:] == widths  # e.g. 3 a run: lengths 1,2,3 | 4,5,7 | 7, each cut to its longest
    assert numpy.array_equal(pooled, whole_pooled)
    assert numpy.array_equal(hidden * mask[..., None], whole_hidden * mask[..., None])


def test_parallel_onnx_runs_give_what_one_run_at_a_time_gives(trained, monkeypatch):
    """With 2 threads, the session runs on one thread each, two windows at once
    (PARALLEL_RUNS), and returns what one run at a time over both threads does."""
    pytest.importorskip("onnxruntime")
    import torch

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # what a 2-core machine reports
    shim = spacy.load(trained).get_pipe("transformer").model.layers[0].shims[0]
    module, tokenizer = shim._model, shim._hfmodel.tokenizer
    path = fast_inference.onnx_file(module, quantized=False)
    texts = [TEXT, "fever", TEXT + " " + TEXT, "pain on the hip", TEXT[:40]]
    inputs = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    at_once = fast_inference.OnnxRuntime(path, parallel=True)
    one_by_one = fast_inference.OnnxRuntime(path, parallel=False)
    assert (at_once.parallel_runs, one_by_one.parallel_runs) == (2, 1)
    expected = one_by_one(**inputs).last_hidden_state.numpy()
    got = at_once(**inputs).last_hidden_state.numpy()
    assert at_once._pool is not None  # the runs went through the pool
    assert numpy.allclose(got, expected, atol=1e-5)
    assert numpy.abs(got).sum() > 0


def test_torch_matmul_ops_multiply_as_numpy_does():
    from thinc.api import NumpyOps

    ops, reference = fast_inference.TorchMatmulOps(), NumpyOps()
    rng = numpy.random.default_rng(0)
    x, y = rng.random((7, 5), dtype="float32"), rng.random((5, 3), dtype="float32")
    x.flags.writeable = False  # as weights loaded from disk are
    for trans1, trans2 in [(False, False), (True, False), (False, True), (True, True)]:
        a = numpy.ascontiguousarray(x.T) if trans1 else x
        b = numpy.ascontiguousarray(y.T) if trans2 else y
        expected = reference.gemm(a, b, trans1=trans1, trans2=trans2)
        assert numpy.allclose(ops.gemm(a, b, trans1=trans1, trans2=trans2), expected, atol=1e-6)
        out = numpy.zeros_like(expected)
        assert ops.gemm(a, b, out=out, trans1=trans1, trans2=trans2) is out
        assert numpy.allclose(out, expected, atol=1e-6)
    doubles = ops.gemm(x.astype("float64"), y.astype("float64"))  # not float32: NumPy's dot
    assert doubles.dtype == numpy.float64 and numpy.allclose(doubles, x @ y)


def test_inference_options_run_the_ner_matmuls_in_torch_with_the_same_entities(trained, monkeypatch):
    """inference_config names en_med_ner.torch_matmul.v1 as the pipeline's
    after_pipeline_creation callback: every NumpyOps model then has
    TorchMatmulOps, and the NER finds what it finds with thinc's BLIS."""
    from thinc.api import NumpyOps

    def ops_of(nlp):
        return {type(node.ops) for _, component in nlp.components
                if hasattr(getattr(component, "model", None), "walk") for node in component.model.walk()}

    plain = spacy.load(trained)
    fast = spacy.load(trained, config=inference_config("float32"))
    assert ops_of(plain) == {NumpyOps} and ops_of(fast) == {fast_inference.TorchMatmulOps}
    texts = [TEXT, "malaria and fever", TEXT + " " + TEXT]
    ents = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in plain.pipe(texts)]
    assert [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in fast.pipe(texts)] == ents
    assert any(ents)  # the tiny pipeline finds something, so the comparison could fail
    monkeypatch.setenv("MED_NER_TORCH_MATMUL", "0")  # the benchmark's lever row
    assert ops_of(spacy.load(trained, config=inference_config("float32"))) == {NumpyOps}


def test_failed_export_warns_and_predicts_in_float32(trained, tmp_path, monkeypatch):
    """The export runs in a child process; one whose `onnx` cannot import (a broken
    install) fails, and predictions go on in float32 with a warning."""
    pytest.importorskip("onnxruntime")
    broken = tmp_path / "broken"
    (broken / "onnx").mkdir(parents=True)
    (broken / "onnx" / "__init__.py").write_text("raise ImportError('onnx is broken here')\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(broken))
    monkeypatch.setenv("MED_NER_CACHE", str(tmp_path / "empty-cache"))
    nlp = spacy.load(trained, config=inference_config("onnx-int8"))
    with pytest.warns(fast_inference.FastInferenceWarning, match="exporting the transformer to ONNX failed"):
        fallback = hidden(nlp)
    assert numpy.array_equal(fallback, hidden(spacy.load(trained)))
    assert not list((tmp_path / "empty-cache").rglob("*.onnx"))


def test_release_runtime_is_written_into_the_config_and_can_be_overridden(trained, tmp_path):
    """add-context writes the release runtime (onnx-int8) into model-final; spacy.load honours it, and --inference float32 gives back
    the float32 model's exact predictions."""
    pytest.importorskip("onnxruntime")
    import shutil

    from med_ner.inference.loading import load_pipeline
    from med_ner.packaging.add_context import set_prediction_runtime
    from med_ner.inference.transformer import RELEASE_INFERENCE, RELEASE_INFERENCE_WINDOW

    release = tmp_path / "release"
    shutil.copytree(trained, release)
    assert set_prediction_runtime(release) == RELEASE_INFERENCE
    config = spacy.util.load_config(release / "config.cfg")
    model = config["components"]["transformer"]["model"]
    assert model["inference"] == "onnx-int8"
    assert config["nlp"]["after_pipeline_creation"] == {"@callbacks": "en_med_ner.torch_matmul.v1"}
    assert (model["inference_spans"] or {}).get("window", 0) == RELEASE_INFERENCE_WINDOW
    assert set_prediction_runtime(release, "onnx-int8", 64) == "onnx-int8"
    model = spacy.util.load_config(release / "config.cfg")["components"]["transformer"]["model"]
    assert model["inference_spans"]["window"] == model["inference_spans"]["stride"] == 64
    set_prediction_runtime(release)
    exact = hidden(spacy.load(trained))
    fast = hidden(spacy.load(release))
    assert not numpy.array_equal(exact, fast) and mean_error(exact, fast) < 0.05
    assert numpy.array_equal(hidden(load_pipeline(str(release), inference="float32")), exact)
    # The weights on disk are the float32 ones: the same files as the trained pipeline's.
    assert (release / "transformer" / "model").read_bytes() == (trained / "transformer" / "model").read_bytes()
    with pytest.raises(ValueError, match="fp8"):
        set_prediction_runtime(release, "fp8")


TRIM_PROBE = """
import ctypes
from med_ner.inference.memory import current_rss_mb
from med_ner.inference.runtimes import release_free_memory
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
libc.mallopt(-3, 8 * 1024 * 1024)  # M_MMAP_THRESHOLD: 512 KB blocks come from the heap, as tensors' do
big, small = [], []
for i in range(200):
    big.append(libc.malloc(512 * 1024))
    libc.memset(big[-1], 1, 512 * 1024)  # touched, so resident
    small.append(libc.malloc(64))  # keeps the heap from shrinking at its top
for block in big:
    libc.free(block)
before = current_rss_mb()
release_free_memory()
print(before - current_rss_mb())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_release_free_memory_returns_a_fragmented_heap_to_the_os():
    """What made RSS grow with the documents processed: freed batch tensors left
    in glibc's heap. Each prediction ends with release_free_memory()."""
    import subprocess

    def freed_mb(trim):
        env = dict(os.environ, MED_NER_MALLOC_TRIM=trim)
        proc = subprocess.run([sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        return float(proc.stdout)

    assert freed_mb("1") > 80  # of the 100 MB freed
    assert freed_mb("0") < 5


def test_activation_smoothing_keeps_the_float_graph_equal(trained, tmp_path):
    """smooth_activations rewrites x @ W as (x / s) @ (s W) for every MatMul and
    fused attention that onnx-int8 quantizes; in float the outputs stay the same."""
    onnxruntime = pytest.importorskip("onnxruntime")
    import onnx

    shim = spacy.load(trained).get_pipe("transformer").model.layers[0].shims[0]
    shim._model.save_pretrained(tmp_path / "hf")
    shim._hfmodel.tokenizer.save_pretrained(tmp_path / "hf")
    plain, smoothed = tmp_path / "plain.onnx", tmp_path / "smoothed.onnx"
    fast_inference.build_onnx(tmp_path / "hf", plain, quantized=False)
    feeds = fast_inference.calibration_feeds(shim._hfmodel.tokenizer)
    assert len(feeds) >= 20 and all(f["input_ids"].shape[1] <= 128 for f in feeds)
    keep_float = fast_inference.first_ffn_output(onnx.load(str(plain)))
    assert len(keep_float) == 1 and "layer.0/output/dense" in keep_float[0]
    counts = fast_inference.smooth_activations(plain, smoothed, feeds, skip=keep_float)

    targets = fast_inference.smoothing_targets(onnx.load(str(plain)))
    assert {n.op_type for n in targets} == {"MatMul", "Attention"}
    attention = [n for n in targets if n.op_type == "Attention"]
    # each attention output projection's 1/s goes into that attention's value columns, no Mul
    assert counts == {"mul": len(targets) - 1 - len(attention), "folded_into_values": len(attention), "float32": 1}
    graph = onnx.load(str(smoothed)).graph
    assert sum(n.op_type == "Mul" and n.name.endswith("_smooth") for n in graph.node) == counts["mul"]
    scales = [onnx.numpy_helper.to_array(i) for i in graph.initializer if i.name.endswith("_smoothing")]
    assert any(not numpy.allclose(s, 1.0, rtol=0.05) for s in scales)  # it changed something

    feed = fast_inference.calibration_feeds(shim._hfmodel.tokenizer)[3]
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

    fast_inference.smooth_activations(source, tmp_path / "smoothed.onnx", [activations(64) for _ in range(4)])
    fast_inference.quantize_onnx(source, tmp_path / "int8.onnx")
    fast_inference.quantize_onnx(tmp_path / "smoothed.onnx", tmp_path / "smoothed-int8.onnx")
    test = activations(256)
    exact = test["x"] @ weight
    plain_int8, smoothed_int8 = (onnxruntime.InferenceSession(str(tmp_path / name)).run(["y"], test)[0]
                                 for name in ("int8.onnx", "smoothed-int8.onnx"))
    assert mean_error(exact, smoothed_int8) < 0.6 * mean_error(exact, plain_int8)
