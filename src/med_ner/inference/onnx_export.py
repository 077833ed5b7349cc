"""The transformer as an optimized ONNX graph (and the onnx-int8 one), built
once per set of weights in a child process and kept in a cache directory
($MED_NER_CACHE, else ~/.cache/en_med_ner), named by a hash of the weights, so
later loads of the same pipeline skip the export."""
import hashlib
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from med_ner.inference.int8_recipe import calibration_feeds, first_ffn_output, quantize_onnx, smooth_activations

# Bumped when the export or quantization recipe changes, so stale cache files are not reused.
EXPORT_RECIPE = "6"
OUTPUTS = ("last_hidden_state", "pooler_output")


def cache_dir() -> Path:
    """Where exported graphs are kept: $MED_NER_CACHE, else the user's cache directory."""
    configured = os.environ.get("MED_NER_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "en_med_ner"


def weights_key(module) -> str:
    """A hash of the module's config and weights: names the cached export."""
    digest = hashlib.sha256(f"{EXPORT_RECIPE}:{module.config.to_json_string()}".encode())
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def onnx_file(module, quantized: bool, tokenizer=None) -> Path:
    """The optimized (and, with `quantized`, smoothed and int8) ONNX file of
    `module`, exported on the first call for these weights and cached after
    that. The export runs in a child process: it peaks at about 1.4 GB for
    MiniLM, which the predicting process then never holds."""
    import onnxruntime

    if quantized and tokenizer is None:
        raise ValueError("onnx-int8 needs the pipeline's tokenizer to calibrate its activation smoothing")
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="en_med_ner-onnx-"))
    stem = f"{weights_key(module)}-ort{onnxruntime.__version__}"
    target = folder / (f"{stem}-int8.onnx" if quantized else f"{stem}.onnx")
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        module.save_pretrained(tmp)
        if quantized:
            tokenizer.save_pretrained(tmp)
        cmd = [sys.executable, "-m", "med_ner.inference.onnx_export", tmp, str(Path(tmp) / target.name)]
        proc = subprocess.run(cmd + (["--int8"] if quantized else []), capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"exporting the transformer to ONNX failed:\n{proc.stderr[-3000:]}")
        os.replace(Path(tmp) / target.name, target)  # atomic: a parallel loader sees all or nothing
    return target


def build_onnx(hf_dir: Path, target: Path, quantized: bool) -> None:
    """Export the HF model saved in `hf_dir`, fuse its graph and (with
    `quantized`, calibrating with the tokenizer saved beside it) smooth its
    activations and make its MatMul weights int8; writes `target`."""
    from transformers import AutoModel, AutoTokenizer

    module = AutoModel.from_pretrained(str(hf_dir))
    config = module.config
    raw, optimized = target.with_suffix(".raw.onnx"), target.with_suffix(".optimized.onnx")
    export_onnx(module, raw)
    del module
    optimize_onnx(raw, config, optimized)
    if quantized:
        import onnx

        smoothed = target.with_suffix(".smoothed.onnx")
        keep_float = first_ffn_output(onnx.load(str(optimized)))
        smooth_activations(optimized, smoothed, calibration_feeds(AutoTokenizer.from_pretrained(str(hf_dir))),
                           skip=keep_float)
        quantize_onnx(smoothed, target, exclude=keep_float)
    else:
        os.replace(optimized, target)


def _tuple_outputs(module):
    """`module` wrapped so the exporter sees plain tensor outputs in a fixed order."""
    import torch

    class TupleOutputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.module = module

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.module(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                              return_dict=True)
            return out.last_hidden_state, out.pooler_output

    return TupleOutputs()


def export_onnx(module, path: Path) -> None:
    import torch

    dummy = torch.ones((2, 16), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch", 1: "length"} for name in names}
    axes.update(last_hidden_state={0: "batch", 1: "length"}, pooler_output={0: "batch"})
    was_training = module.training
    module.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
            torch.onnx.export(_tuple_outputs(module), (dummy, dummy, torch.zeros_like(dummy)), str(path),
                              input_names=names, output_names=list(OUTPUTS), dynamic_axes=axes, opset_version=17,
                              do_constant_folding=True, dynamo=False)
    finally:
        module.train(was_training)


def optimize_onnx(source: Path, config, target: Path) -> None:
    """ONNX Runtime's BERT graph fusions (attention, LayerNorm, GELU), saved so
    sessions and the quantizer start from the fused graph."""
    from onnxruntime.transformers.optimizer import optimize_model

    model_type = "bert" if config.model_type in ("bert", "roberta", "distilbert") else config.model_type
    optimized = optimize_model(str(source), model_type=model_type, num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size, opt_level=1)
    optimized.save_model_to_file(str(target))


if __name__ == "__main__":
    # python -m med_ner.inference.onnx_export HF_DIR TARGET [--int8]: the child of onnx_file
    build_onnx(Path(sys.argv[1]), Path(sys.argv[2]), quantized="--int8" in sys.argv[3:])
