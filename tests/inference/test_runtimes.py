"""The transformer's prediction runtimes (med_ner.inference.runtimes):
each is honoured by spacy.load through the config, stays near float32, falls
back to float32 with a warning where it cannot run, and never reaches what
training or to_disk see."""
import json
import sys
import warnings

import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import Adam

from med_ner.inference import runtimes
from med_ner.inference.onnx_export import onnx_file
from med_ner.inference.transformer import inference_config
from conftest import TEXT, hidden

def mean_error(exact, other):
    return numpy.abs(exact - other).mean() / numpy.abs(exact).mean()


@pytest.mark.parametrize("runtime,tolerance", [("int8", 0.05), ("onnx", 1e-4), ("onnx-int8", 0.05), ("bf16", 0.03)])
def test_runtime_is_honoured_by_spacy_load_and_stays_near_float32(tiny_trained_pipeline, runtime, tolerance):
    if runtime == "bf16" and not runtimes.cpu_has_bf16():
        pytest.skip("no bfloat16 instructions on this CPU")
    if runtime.startswith("onnx"):
        pytest.importorskip("onnxruntime")
    exact = hidden(spacy.load(tiny_trained_pipeline))
    fast = spacy.load(tiny_trained_pipeline, config=inference_config(runtime))
    assert fast.config["components"]["transformer"]["model"]["inference"] == runtime
    with warnings.catch_warnings():
        warnings.simplefilter("error", runtimes.FastInferenceWarning)
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

def test_updates_rebuild_the_runtime_and_to_disk_keeps_float_weights(tiny_trained_pipeline, tmp_path):
    pytest.importorskip("onnxruntime")
    nlp = spacy.load(tiny_trained_pipeline, config=inference_config("onnx-int8", window=16))
    before = hidden(nlp)
    nlp.to_disk(tmp_path / "saved")
    saved = spacy.load(tmp_path / "saved", config=inference_config("float32"))
    assert numpy.array_equal(hidden(saved), hidden(spacy.load(tiny_trained_pipeline)))
    optimizer = Adam(0.01)
    doc = nlp.make_doc(TEXT)
    for _ in range(3):
        nlp.update([Example.from_dict(doc, {"entities": [(23, 30, "DISEASE")]})], sgd=optimizer)
    assert not numpy.allclose(before, hidden(nlp), atol=1e-3)

def test_inference_spans_apply_to_predictions_only(tiny_trained_pipeline):
    long_text = " ".join([TEXT] * 3)
    windowed = spacy.load(tiny_trained_pipeline, config=inference_config("float32", window=8))
    model = windowed.get_pipe("transformer").model
    training_spans = model.attrs["get_spans"]
    doc = windowed(long_text)
    assert len(doc._.trf_data.wordpieces.strings) == -(-len(doc) // 8)  # non-overlapping windows of 8
    assert len(spacy.load(tiny_trained_pipeline)(long_text)._.trf_data.wordpieces.strings) == 1  # the config's 128/96
    assert model.attrs["get_spans"] is training_spans  # restored after predicting

def test_missing_onnxruntime_warns_and_predicts_in_float32(tiny_trained_pipeline, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    nlp = spacy.load(tiny_trained_pipeline, config=inference_config("onnx-int8"))
    with pytest.warns(runtimes.FastInferenceWarning, match="onnxruntime"):
        fallback = hidden(nlp)
    assert numpy.array_equal(fallback, hidden(spacy.load(tiny_trained_pipeline)))

def test_missing_bf16_instructions_warn_and_predict_in_float32(tiny_trained_pipeline, monkeypatch):
    monkeypatch.setattr(runtimes, "cpu_has_bf16", lambda: False)
    nlp = spacy.load(tiny_trained_pipeline, config=inference_config("bf16"))
    with pytest.warns(runtimes.FastInferenceWarning, match="bfloat16"):
        fallback = hidden(nlp)
    assert numpy.array_equal(fallback, hidden(spacy.load(tiny_trained_pipeline)))

def test_an_unknown_runtime_is_rejected():
    with pytest.raises(ValueError, match="onnx-int8"):
        inference_config("fp8")

def test_load_pipeline_maps_the_cli_options_to_overrides(tiny_trained_pipeline):
    from med_ner.inference.loading import PipelineError, inference_overrides, load_pipeline

    assert inference_overrides() == {}
    assert inference_overrides(inference="onnx")["components.transformer.model.inference"] == "onnx"
    with pytest.raises(PipelineError, match="choose one of"):
        load_pipeline(str(tiny_trained_pipeline), inference="fp8")
    nlp = load_pipeline(str(tiny_trained_pipeline), inference="int8", window=32)
    model_config = nlp.config["components"]["transformer"]["model"]
    assert model_config["inference"] == "int8" and model_config["inference_spans"]["window"] == 32

@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_predict_cli_takes_the_inference_option(tiny_trained_pipeline):
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "med_ner", "predict", TEXT, "--model", str(tiny_trained_pipeline), "--json",
                           "--inference", "int8"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[0])["text"] == TEXT
    proc = subprocess.run([sys.executable, "-m", "med_ner", "predict", TEXT, "--model", str(tiny_trained_pipeline),
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
            hidden, pooled = runtimes.run_length_sorted(run, feed, rows_per_run=rows_per_run,
                                                              map_runs=pool.map)
        widths_seen[1:] = sorted(widths_seen[1:])  # started in order, appended as each thread gets to it
    else:
        hidden, pooled = runtimes.run_length_sorted(run, feed, rows_per_run=rows_per_run)
    assert widths_seen[1:] == widths  # e.g. 3 a run: lengths 1,2,3 | 4,5,7 | 7, each cut to its longest
    assert numpy.array_equal(pooled, whole_pooled)
    assert numpy.array_equal(hidden * mask[..., None], whole_hidden * mask[..., None])

def test_parallel_onnx_runs_give_what_one_run_at_a_time_gives(tiny_trained_pipeline, monkeypatch):
    """With 2 threads, the session runs on one thread each, two windows at once
    (PARALLEL_RUNS), and returns what one run at a time over both threads does."""
    pytest.importorskip("onnxruntime")
    import torch

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # what a 2-core machine reports
    shim = spacy.load(tiny_trained_pipeline).get_pipe("transformer").model.layers[0].shims[0]
    module, tokenizer = shim._model, shim._hfmodel.tokenizer
    path = onnx_file(module, quantized=False)
    texts = [TEXT, "fever", TEXT + " " + TEXT, "pain on the hip", TEXT[:40]]
    inputs = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    at_once = runtimes.OnnxRuntime(path, parallel=True)
    one_by_one = runtimes.OnnxRuntime(path, parallel=False)
    assert (at_once.parallel_runs, one_by_one.parallel_runs) == (2, 1)
    expected = one_by_one(**inputs).last_hidden_state.numpy()
    got = at_once(**inputs).last_hidden_state.numpy()
    assert at_once._pool is not None  # the runs went through the pool
    assert numpy.allclose(got, expected, atol=1e-5)
    assert numpy.abs(got).sum() > 0

def test_release_runtime_is_written_into_the_config_and_can_be_overridden(tiny_trained_pipeline, tmp_path):
    """add-context writes the release runtime (onnx-int8) into model-final; spacy.load honours it, and --inference float32 gives back
    the float32 model's exact predictions."""
    pytest.importorskip("onnxruntime")
    import shutil

    from med_ner.inference.loading import load_pipeline
    from med_ner.packaging.add_context import set_prediction_runtime
    from med_ner.inference.transformer import RELEASE_INFERENCE, RELEASE_INFERENCE_WINDOW

    release = tmp_path / "release"
    shutil.copytree(tiny_trained_pipeline, release)
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
    exact = hidden(spacy.load(tiny_trained_pipeline))
    fast = hidden(spacy.load(release))
    assert not numpy.array_equal(exact, fast) and mean_error(exact, fast) < 0.05
    assert numpy.array_equal(hidden(load_pipeline(str(release), inference="float32")), exact)
    # The weights on disk are the float32 ones: the same files as the tiny_trained_pipeline pipeline's.
    assert (release / "transformer" / "model").read_bytes() == (tiny_trained_pipeline / "transformer" / "model").read_bytes()
    with pytest.raises(ValueError, match="fp8"):
        set_prediction_runtime(release, "fp8")
