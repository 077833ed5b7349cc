"""Faster CPU runtimes for the transformer's predictions.

Each runtime stands in for the PyTorchShim's `_model` (the Hugging Face
transformer) while a prediction runs, so spacy-transformers' tokenization,
alignment and listeners are unchanged and training, `to_disk` and GPU use
always see the float32 torch module. `make_runtime` builds one from the float32
module; where a runtime cannot run here (onnxruntime not installed, no bf16
instructions, an export that fails) it warns and returns None, and the caller predicts in float32.

- "int8": torch dynamic int8 of the linear layers (ops.quantize_int8).
- "bf16": the torch module under CPU autocast to bfloat16.
- "onnx": the module exported to ONNX, graph-optimized by ONNX Runtime (onnx_export).
- "onnx-int8": that graph smoothed and made int8 (int8_recipe).

The ONNX runtimes run a batch's windows `rows_per_run` at a time, in
length-sorted groups, each padded only to its own longest window
(run_length_sorted); with more than one thread and `parallel_runs`, that many
runs go on at once, each on one thread.
"""
import os
import warnings
from pathlib import Path
from typing import Dict, Optional

from med_ner.inference.onnx_export import OUTPUTS, onnx_file

RUNTIMES = ("float32", "int8", "bf16", "onnx", "onnx-int8")
# The default of the transformer's `rows_per_run`. One window a run (no
# padding; its activations stay in cache) took 13.6-16.5 s of session time over
# the BC5CDR test windows against 19.4-21.4 s for groups of 16 and 21.5 s for
# whole batches, on 2 cores (README, Fast CPU inference).
ROWS_PER_RUN = 1
# The default of `parallel_runs`: with n threads, n single-threaded runs at
# once instead of one run over n threads: a window's operators (a 128 x 384
# LayerNorm, a 128 x 1536 GELU) are too small to split well, and one-thread
# runs wait on no other thread. On 2 cores: 1.83-2.12 s against 2.02-2.12 s for
# 240 windows, a 10% shorter session time at the fastest of six (README, Fast
# CPU inference).
PARALLEL_RUNS = True


class FastInferenceWarning(UserWarning):
    """A requested inference runtime is unavailable; predictions fall back to float32."""


def unknown_runtime(name: str) -> Optional[str]:
    """Why `name` is not a runtime, for an option's error message (None when it is one)."""
    return None if name in RUNTIMES else f"{name!r} is not one of {', '.join(RUNTIMES)}"


def check_runtime(name: str) -> str:
    if name not in RUNTIMES:
        raise ValueError(f"inference = {name!r}: choose one of {', '.join(RUNTIMES)}")
    return name


def cpu_has_bf16() -> bool:
    """True where the CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX);
    elsewhere bf16 autocast is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def make_runtime(name: str, module, tokenizer=None, rows_per_run: int = ROWS_PER_RUN,
                 parallel_runs: bool = PARALLEL_RUNS) -> Optional[object]:
    """A stand-in for `module` (a float32 HF transformer on the CPU) running
    the `name` runtime, or None for float32 or when `name` cannot run here.
    onnx-int8 calibrates with `tokenizer` (the pipeline's own); `rows_per_run`
    and `parallel_runs` apply to the ONNX runtimes (see OnnxRuntime)."""
    check_runtime(name)
    if name == "float32":
        return None
    if name == "int8":
        from med_ner.inference.ops import quantize_int8

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
    return OnnxRuntime(path, rows_per_run=rows_per_run, parallel=parallel_runs)


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
    """An ONNX Runtime session that takes and returns what the HF module does,
    over `rows_per_run` windows a run (0: each batch whole) and, with
    `parallel`, as many one-thread runs at once as torch has threads."""

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
