"""Faster CPU runtimes for the transformer's predictions.

Each runtime stands in for the PyTorchShim's `_model` (the Hugging Face
transformer) while a prediction runs, so spacy-transformers' tokenization,
alignment and listeners are unchanged and training, `to_disk` and GPU use
always see the float32 torch module. `make_runtime` builds one from the float32
module; where a runtime cannot run here (onnxruntime not installed, no bf16
instructions, an export that fails) it warns and returns None, and the caller predicts in float32.

- "int8": torch dynamic int8 of the linear layers (the older `cpu_int8`).
- "bf16": the torch module under CPU autocast to bfloat16.
- "onnx": the module exported to ONNX, graph-optimized by ONNX Runtime.
- "onnx-int8": that graph with its activations smoothed (smooth_activations),
  dynamic int8 (per channel) MatMul and attention weights and uint8 embeddings,
  except the first layer's FFN output projection (first_ffn_output).

The ONNX runtimes run a batch's windows one at a time (ROWS_PER_RUN), or in
length-sorted groups, each padded only to its own longest window
(run_length_sorted); with more than one thread, that many runs go on at once,
each on one thread (PARALLEL_RUNS).

The ONNX files are built once per set of weights and kept in a cache
directory ($MED_NER_CACHE, else ~/.cache/en_med_ner), named by a hash of the
weights, so later loads of the same pipeline skip the export.
"""
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from thinc.api import NumpyOps

RUNTIMES = ("float32", "int8", "bf16", "onnx", "onnx-int8")
# Bumped when the export or quantization recipe changes, so stale cache files are not reused.
EXPORT_RECIPE = "6"
OUTPUTS = ("last_hidden_state", "pooler_output")
# ONNX runs take a batch's windows in length-sorted groups of this many rows.
# One window a run (no padding; its activations stay in cache) took 13.6-16.5 s
# of session time over the BC5CDR test windows against 19.4-21.4 s for groups
# of 16 and 21.5 s for whole batches, on 2 cores (README, Fast CPU inference).
ROWS_PER_RUN = 1
# With n threads, n single-threaded runs at once instead of one run over n
# threads: a window's operators (a 128 x 384 LayerNorm, a 128 x 1536 GELU) are
# too small to split well, and one-thread runs wait on no other thread. On 2
# cores: 1.83-2.12 s against 2.02-2.12 s for 240 windows, a 10% shorter session
# time at the fastest of six (README, Fast CPU inference).
# $MED_NER_PARALLEL_RUNS=0 goes back to one run at a time over all threads.
PARALLEL_RUNS = True


# Activation smoothing before int8 (the SmoothQuant idea, Xiao et al. 2023):
# each MatMul's input channels are divided by s = max|x|^a / max|W|^(1-a) and
# its weight rows multiplied by s, so the per-tensor int8 activations lose
# less to the few channels with large values (up to 14x the median here) and
# the per-channel int8 weights take the difference. On the release model's
# dev windows, calibrated on CALIBRATION_TEXT, it cut the int8 error in the
# last hidden state from 8.7% to 5.2% (MACCROBAT) and 6.2% to 3.7% (BC5CDR):
# a = 0.7 of 0.3-1.0, chosen on dev (README, Fast CPU inference).
SMOOTHING_ALPHA = 0.7
# Clinical and biomedical paragraphs written for calibration (no corpus text):
# the channel maxima are a property of the weights, so 20 windows do.
CALIBRATION_TEXT = Path(__file__).with_name("calibration_text.txt")


class FastInferenceWarning(UserWarning):
    """A requested inference runtime is unavailable; predictions fall back to float32."""


def unknown_runtime(name: str) -> Optional[str]:
    """Why `name` is not a runtime, for an option's error message (None when it is one)."""
    return None if name in RUNTIMES else f"{name!r} is not one of {', '.join(RUNTIMES)}"


def check_runtime(name: str) -> str:
    if name not in RUNTIMES:
        raise ValueError(f"inference = {name!r}: choose one of {', '.join(RUNTIMES)}")
    return name


def cache_dir() -> Path:
    configured = os.environ.get("MED_NER_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "en_med_ner"


def cpu_has_bf16() -> bool:
    """True where the CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX);
    elsewhere bf16 autocast is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


_LIBC = None
# RSS (MB) after the last trim: trimming again only once RSS has grown this much
# past it keeps the cost of malloc_trim off most batches.
_TRIM_GROWTH_MB = 64
_trimmed_at_mb = 0.0


def release_free_memory() -> None:
    """Hand the allocator's free pages back to the OS (glibc's malloc_trim)
    once RSS has grown by _TRIM_GROWTH_MB since the last time.

    Batches of different shapes leave freed tensors scattered through glibc's
    heaps, and RSS then grows with the documents processed (measured: float32
    904 -> 1,090 MB over the BC5CDR test set). Trimming after every batch cost
    5% of onnx-int8's words/s; gated by growth it costs a read of
    /proc/self/status a batch. $MED_NER_MALLOC_TRIM=0 turns it off. A no-op
    off glibc."""
    global _LIBC, _trimmed_at_mb
    if os.environ.get("MED_NER_MALLOC_TRIM", "1") == "0":
        return
    if _LIBC is None:
        try:
            import ctypes

            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if not _LIBC:
        return
    from med_ner.inference.memory import current_rss_mb

    rss = current_rss_mb()
    if rss - _trimmed_at_mb < _TRIM_GROWTH_MB:
        return
    _LIBC.malloc_trim(0)
    _trimmed_at_mb = current_rss_mb()


def make_runtime(name: str, module, tokenizer=None) -> Optional[object]:
    """A stand-in for `module` (a float32 HF transformer on the CPU) running
    the `name` runtime, or None for float32 or when `name` cannot run here.
    onnx-int8 calibrates with `tokenizer` (the pipeline's own)."""
    check_runtime(name)
    if name == "float32":
        return None
    if name == "int8":
        from med_ner.inference.transformer import quantize_int8

        return TorchRuntime(quantize_int8(module))
    if name == "bf16":
        if not cpu_has_bf16():
            warnings.warn("inference = 'bf16': this CPU has no bfloat16 instructions (AVX-512 BF16 or AMX); "
                          "predicting in float32", FastInferenceWarning, stacklevel=3)
            return None
        return TorchRuntime(module, bf16=True)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        warnings.warn(f"inference = {name!r} needs onnxruntime (pip install onnxruntime); predicting in float32",
                      FastInferenceWarning, stacklevel=3)
        return None
    try:
        path = onnx_file(module, quantized=name == "onnx-int8", tokenizer=tokenizer)
    except (RuntimeError, OSError) as err:
        # An export that cannot run here (no disk space, a model the exporter
        # does not handle) must not stop predictions: the float32 model still can.
        warnings.warn(f"inference = {name!r}: {err}; predicting in float32", FastInferenceWarning, stacklevel=3)
        return None
    # $MED_NER_ROWS_PER_RUN overrides the group size; 0 runs each batch whole.
    return OnnxRuntime(path, rows_per_run=int(os.environ.get("MED_NER_ROWS_PER_RUN", ROWS_PER_RUN)),
                       parallel=os.environ.get("MED_NER_PARALLEL_RUNS", "1" if PARALLEL_RUNS else "0") != "0")


class TorchRuntime:
    """The torch module under torch.inference_mode (and bf16 autocast when asked)."""

    def __init__(self, module, bf16: bool = False):
        self.module = module.eval()
        self.bf16 = bf16

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self  # only ever predicts

    def __call__(self, **inputs):
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            output = self.module(**inputs)
        if self.bf16:
            for key in list(output.keys()):
                output[key] = output[key].float()
        return output


class OnnxRuntime:
    """An ONNX Runtime session that takes and returns what the HF module does."""

    def __init__(self, path: Path, rows_per_run: int = ROWS_PER_RUN, parallel: bool = PARALLEL_RUNS):
        import onnxruntime
        import torch

        # The same thread count as torch, so `threads` settings apply to both:
        # as that many one-thread runs at once (parallel), or within each run.
        threads = torch.get_num_threads()
        self.parallel_runs = threads if parallel and rows_per_run > 0 and threads > 1 else 1
        self._pool, self._pool_pid = None, 0
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1 if self.parallel_runs > 1 else threads
        options.inter_op_num_threads = 1
        # The graph is already optimized offline; the memory-pattern planner
        # would keep one arena per input shape, and shapes change every batch.
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.enable_mem_pattern = False
        options.enable_cpu_mem_arena = False
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.rows_per_run = rows_per_run

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def map_runs(self):
        """map over the runs: a thread pool's when runs go on at once (ONNX
        Runtime releases the GIL while it runs), else the builtin."""
        if self.parallel_runs <= 1:
            return map
        # A pool made before a fork has no threads in the child: make another.
        if self._pool is None or self._pool_pid != os.getpid():
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.parallel_runs, thread_name_prefix="med-ner-onnx")
            self._pool_pid = os.getpid()
        return self._pool.map

    def __call__(self, **inputs):
        import torch
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        ids = inputs["input_ids"]
        # Models without segment ids get zeros, as their HF forward would use;
        # spacy-transformers passes a float attention mask, the graph takes int64.
        feed = {name: (inputs[name] if inputs.get(name) is not None else torch.zeros_like(ids)).numpy().astype(
            "int64", copy=False) for name in self.input_names}
        hidden, pooled = run_length_sorted(lambda part: self.session.run(list(OUTPUTS), part), feed,
                                           self.rows_per_run, self.map_runs())
        return BaseModelOutputWithPooling(last_hidden_state=torch.from_numpy(hidden),
                                          pooler_output=torch.from_numpy(pooled))


def run_length_sorted(run, feed: Dict, rows_per_run: int, map_runs=map):
    """`run` over the rows of `feed` sorted by length, `rows_per_run` at a
    time, each group cut to its own longest row, so short windows are not
    padded to the batch's longest; outputs come back in the batch's order,
    padded positions as zeros. rows_per_run <= 0: one run over the batch.
    `map_runs` applies `run` to the groups (an executor's map runs them at once)."""
    import numpy

    mask = feed["attention_mask"]
    if rows_per_run <= 0 or len(mask) <= rows_per_run:
        return run(feed)
    lengths = mask.sum(axis=1)
    order = numpy.argsort(lengths, kind="stable")
    groups = [order[start:start + rows_per_run] for start in range(0, len(order), rows_per_run)]
    parts = [{name: value[rows, :int(lengths[rows].max())] for name, value in feed.items()} for rows in groups]
    hidden = pooled = None
    for rows, (part_hidden, part_pooled) in zip(groups, map_runs(run, parts)):
        width = part_hidden.shape[1]
        if hidden is None:
            hidden = numpy.zeros((len(mask), mask.shape[1], part_hidden.shape[-1]), dtype=part_hidden.dtype)
            pooled = numpy.zeros((len(mask), part_pooled.shape[-1]), dtype=part_pooled.dtype)
        hidden[rows, :width] = part_hidden
        pooled[rows] = part_pooled
    return hidden, pooled


# thinc's NumpyOps multiplies matrices with its bundled BLIS, which on these
# 2 cores took 66 ms for a 4,200 x 480 by 480 x 384 product against 12-14 ms
# for torch (8 for numpy's OpenBLAS, whose threads torch's setting would not
# govern). The NER's four products a batch were 2.1 of the BC5CDR test set's
# 28 s (profiled); in torch, onnx-int8 tagged 5,660 -> 6,206 words/s there.
class TorchMatmulOps(NumpyOps):
    """NumpyOps whose float32 matrix products run in torch (with the
    transformer's thread count); everything else stays NumPy's."""

    def __init__(self, device_type: str = "cpu", device_id: int = -1, **_):
        super().__init__(device_type, device_id, use_blis=False)  # other dtypes: NumPy's dot, not BLIS

    def gemm(self, x, y, *, out=None, trans1=False, trans2=False):
        import numpy
        import torch

        if x.dtype != numpy.float32 or y.dtype != numpy.float32 or (out is not None and (
                out.dtype != numpy.float32 or not out.flags.writeable)):
            return super().gemm(x, y, out=out, trans1=trans1, trans2=trans2)
        with warnings.catch_warnings():
            # torch warns about read-only arrays (weights loaded from disk); nothing writes to them
            warnings.simplefilter("ignore", UserWarning)
            a, b = torch.from_numpy(x), torch.from_numpy(y)
        a, b = (a.T if trans1 else a), (b.T if trans2 else b)
        if out is None:
            return torch.matmul(a, b).numpy()
        torch.matmul(a, b, out=torch.from_numpy(out))
        return out


def use_torch_matmul(nlp):
    """Give every component model that uses NumpyOps TorchMatmulOps (a CPU
    pipeline's; GPU ops are left alone). The nlp.after_pipeline_creation
    callback of inference_config, so it applies where the config says so.
    $MED_NER_TORCH_MATMUL=0 leaves thinc's BLIS (a benchmark row's lever)."""
    from thinc.api import Model

    if os.environ.get("MED_NER_TORCH_MATMUL", "1") == "0":
        return nlp
    ops = TorchMatmulOps()
    for _, component in nlp.components:
        model = getattr(component, "model", None)
        if isinstance(model, Model):
            for node in model.walk():
                if type(node.ops) is NumpyOps:
                    node.ops = ops
    return nlp


def torch_matmul_callback():
    """en_med_ner.torch_matmul.v1, for [nlp.after_pipeline_creation]."""
    return use_torch_matmul


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
        cmd = [sys.executable, "-m", "med_ner.inference.runtimes", tmp, str(Path(tmp) / target.name)]
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


def calibration_feeds(tokenizer, max_length: int = 128) -> List[Dict]:
    """One window of token ids per paragraph of CALIBRATION_TEXT."""
    import numpy

    paragraphs = [p for p in CALIBRATION_TEXT.read_text(encoding="utf8").split("\n\n") if p.strip()]
    feeds = []
    for text in paragraphs:
        ids = numpy.asarray(tokenizer(text, truncation=True, max_length=max_length)["input_ids"], dtype="int64")[None]
        feeds.append({"input_ids": ids, "attention_mask": numpy.ones_like(ids),
                      "token_type_ids": numpy.zeros_like(ids)})
    return feeds


def smoothing_targets(model) -> List:
    """The MatMul and fused attention nodes whose weight (input 1) is a
    constant used by that node alone, i.e. those quantize_onnx makes int8."""
    constants = {init.name for init in model.graph.initializer}
    uses = Counter(name for node in model.graph.node for name in node.input)
    return [node for node in model.graph.node if node.op_type in ("MatMul", "Attention") and len(node.input) > 1
            and node.input[1] in constants and uses[node.input[1]] == 1]


def activation_channel_max(path: Path, tensors: List[str], feeds: List[Dict]) -> Dict:
    """max |x| per last-axis channel of each tensor in `tensors`, over `feeds`."""
    import numpy
    import onnx
    import onnxruntime

    model = onnx.load(str(path))
    for name in tensors:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    maxima: Dict = {}
    for feed in feeds:
        for name, value in zip(tensors, session.run(tensors, {k: feed[k] for k in inputs})):
            channel = numpy.abs(value.reshape(-1, value.shape[-1])).max(axis=0)
            maxima[name] = numpy.maximum(maxima[name], channel) if name in maxima else channel
    return maxima


def smooth_activations(source: Path, target: Path, feeds: List[Dict], alpha: float = SMOOTHING_ALPHA,
                       skip: Sequence[str] = ()) -> Dict[str, int]:
    """Rewrite each smoothing target x @ W (but those named in `skip`, which
    stay float32) as (x * 1/s) @ (s W), with s per input channel from the
    activation maxima over `feeds` (SMOOTHING_ALPHA). Equal in float. Where x
    is a fused attention's output, 1/s goes into its value projection;
    elsewhere an elementwise Mul applies it. Returns how many of each."""
    import numpy
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    skipped = set(skip)
    nodes = [node for node in smoothing_targets(model) if node.name not in skipped]
    maxima = activation_channel_max(source, sorted({node.input[0] for node in nodes}), feeds)
    constants = {init.name: init for init in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    uses = Counter(name for node in model.graph.node for name in node.input)
    smoothed = {id(node) for node in nodes}
    counts = {"mul": 0, "folded_into_values": 0, "float32": len(skip)}
    order = []
    for node in model.graph.node:
        if id(node) in smoothed:
            weight = constants[node.input[1]]
            w = numpy_helper.to_array(weight).astype("float32")
            x_max = numpy.maximum(maxima[node.input[0]], 1e-5)
            w_max = numpy.maximum(numpy.abs(w).max(axis=1), 1e-5)
            scale = numpy.clip(x_max ** alpha / w_max ** (1 - alpha), 1e-3, 1e3).astype("float32")
            weight.CopyFrom(numpy_helper.from_array(w * scale[:, None], weight.name))
            inverse = (1 / scale).astype("float32")
            if _fold_into_values(producers.get(node.input[0]), uses[node.input[0]], constants, inverse):
                counts["folded_into_values"] += 1
            else:
                init = numpy_helper.from_array(inverse, f"{node.name}_smoothing")
                model.graph.initializer.append(init)
                scaled = f"{node.name}_smoothed_input"
                order.append(onnx.helper.make_node("Mul", [node.input[0], init.name], [scaled],
                                                   name=f"{node.name}_smooth"))
                node.input[0] = scaled
                counts["mul"] += 1
        order.append(node)
    del model.graph.node[:]
    model.graph.node.extend(order)
    onnx.save(model, str(target))
    return counts


def _fold_into_values(attention, consumers: int, constants: Dict, inverse) -> bool:
    """Scale the value columns of `attention` (ORT's fused Attention, whose
    weight is [hidden, 3 x hidden] in Q, K, V order) by `inverse`, where its
    output feeds only the MatMul being smoothed: the attention output is a
    weighted sum of values, so its channel j scales with value channel j."""
    from onnx import numpy_helper

    if attention is None or attention.op_type != "Attention" or consumers != 1 or len(attention.input) < 3:
        return False
    if any(a.name == "qkv_hidden_sizes" for a in attention.attribute):
        return False
    weight, bias = constants.get(attention.input[1]), constants.get(attention.input[2])
    if weight is None or bias is None:
        return False
    w, b = numpy_helper.to_array(weight).astype("float32"), numpy_helper.to_array(bias).astype("float32")
    hidden = len(inverse)
    if w.shape[-1] != 3 * hidden or b.shape[-1] != 3 * hidden:
        return False
    w[:, 2 * hidden:] *= inverse[None, :]
    b[2 * hidden:] *= inverse
    weight.CopyFrom(numpy_helper.from_array(w, weight.name))
    bias.CopyFrom(numpy_helper.from_array(b, bias.name))
    return True


GELU_OPS = ("Gelu", "BiasGelu", "FastGelu")


def first_ffn_output(model) -> List[str]:
    """The name of the first MatMul fed by a GELU (the first layer's FFN output
    projection), or [] where there is none. It stays float32: after smoothing
    it held the largest share of the int8 error left (keeping it float took
    the release model's hidden-state error on MACCROBAT dev from 5.5% to 4.6%
    at about 3% of the session time; no other single MatMul gave over 0.5
    points), and it is what made NCBI-disease dev F1 drop 0.48 with uint8
    embeddings (0.00 to +0.18 with it float32, two builds)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    for node in model.graph.node:
        if node.op_type != "MatMul":
            continue
        source = producers.get(node.input[0])
        if source is not None and source.op_type == "Mul" and source.name.endswith("_smooth"):
            source = producers.get(source.input[0])
        if source is not None and source.op_type in GELU_OPS:
            return [node.name]
    return []


def quantize_onnx(source: Path, target: Path, exclude: Optional[List[str]] = None, embeddings: bool = True) -> None:
    """Dynamic int8 weights, one scale per output channel, for the MatMuls and
    the fused attention's QKV projection (QAttention): with the attention too,
    MiniLM ran a 16 x 180 batch in 0.60 s against 0.96 s for MatMuls only
    (1.51 s float32), at the same error against float32. The fused embedding
    lookup (QEmbedLayerNormalization) keeps its tables as uint8: MiniLM's file
    shrinks from 56 to 21 MB, and the release model's hidden-state error on
    MACCROBAT dev goes from 5.2% to 5.5%."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Shape inference cannot type the outputs of ORT's fused ops (contrib
    # domain); every tensor there is float32.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to run pre-processing is for static quantization
    try:
        op_types = ["MatMul", "Attention"] + (["EmbedLayerNormalization"] if embeddings else [])
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=op_types, nodes_to_exclude=exclude or [],
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})
    finally:
        root.setLevel(level)


def describe(name: str) -> Dict[str, str]:
    """Versions behind a runtime, for benchmark records."""
    import torch

    info = {"runtime": name, "torch": torch.__version__}
    if name.startswith("onnx"):
        try:
            import onnxruntime

            info["onnxruntime"] = onnxruntime.__version__
        except ImportError:
            info["onnxruntime"] = None
    return info


if __name__ == "__main__":
    # python -m med_ner.inference.runtimes HF_DIR TARGET [--int8]: the child of onnx_file
    build_onnx(Path(sys.argv[1]), Path(sys.argv[2]), quantized="--int8" in sys.argv[3:])
