"""onnx-int8 quantization recipes of a trained pipeline's transformer, compared
by how far each moves the last hidden state from the float32 ONNX graph, on
the windows the pipeline cuts from a split's own texts, and by ONNX session
seconds over those windows (one window a run, as the pipeline runs them).

This is the measurement behind fast_inference's recipe: activation smoothing
(SMOOTHING_ALPHA, calibrated on the bundled text, never on the split), uint8
embeddings, and the first layer's FFN output projection left in float32.
Rows that keep each kind of projection in float32 show where the int8 error
left over comes from. Relative error: ||h_int8 - h_float|| / ||h_float|| per
window, averaged over windows.
"""
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

# Recipe name -> (smooth activations, uint8 embeddings, which MatMuls stay
# float32: "" none, "first-ffn-output" the shipped choice, or a node-name part
# that every kept MatMul contains).
RECIPES: Dict[str, tuple] = {
    "int8 (no smoothing)": (False, False, ""),
    "smoothed": (True, False, ""),
    "smoothed + uint8 embeddings": (True, True, ""),
    "smoothed + uint8 embeddings, first FFN output float32 (shipped)": (True, True, "first-ffn-output"),
    "smoothed + uint8 embeddings, every FFN output float32": (True, True, "/output/dense/MatMul"),
    "smoothed + uint8 embeddings, every FFN input float32": (True, True, "/intermediate/dense/MatMul"),
}


class QuantizationBenchmarkError(ValueError):
    """Arguments the benchmark cannot run with."""


def split_windows(nlp, docs, limit: int) -> List[Dict]:
    """Token-id windows of the pipeline's own span getter over `docs`, at most `limit`."""
    import numpy

    model = nlp.get_pipe("transformer").model
    tokenizer = model.layers[0].shims[0]._hfmodel.tokenizer
    max_length = min(getattr(tokenizer, "model_max_length", 512) or 512, 512)
    windows = []
    for doc_spans in model.attrs["get_spans"](docs):
        for span in doc_spans:
            ids = numpy.asarray(tokenizer(span.text, truncation=True, max_length=max_length)["input_ids"],
                                dtype="int64")[None]
            windows.append({"input_ids": ids, "attention_mask": numpy.ones_like(ids),
                            "token_type_ids": numpy.zeros_like(ids)})
            if len(windows) >= limit:
                return windows
    return windows


def _session(path: Path):
    """The runtime the pipeline itself would run `path` in (same options and threads)."""
    from med_ner.inference.runtimes import OnnxRuntime

    return OnnxRuntime(path)


def _hidden(runtime, windows: List[Dict]):
    """Each window's last hidden state, run as the pipeline runs windows (at once where it does)."""
    def run(window):
        return runtime.session.run(["last_hidden_state"], {k: window[k] for k in runtime.input_names})[0]

    start = time.perf_counter()
    out = list(runtime.map_runs()(run, windows))
    return out, time.perf_counter() - start


def build_recipe(plain: Path, target: Path, recipe: str, tokenizer, work: Path) -> None:
    """`recipe` applied to the float32 graph `plain`, as fast_inference.build_onnx does for the shipped one."""
    import onnx

    from med_ner.inference import int8_recipe as fast_inference

    smooth, embeddings, keep = RECIPES[recipe]
    graph = onnx.load(str(plain))
    if keep == "first-ffn-output":
        exclude = fast_inference.first_ffn_output(graph)
    else:
        exclude = [n.name for n in graph.graph.node if keep and n.op_type == "MatMul" and keep in n.name]
    source = plain
    if smooth:
        source = work / "smoothed.onnx"
        fast_inference.smooth_activations(plain, source, fast_inference.calibration_feeds(tokenizer), skip=exclude)
    fast_inference.quantize_onnx(source, target, exclude=exclude, embeddings=embeddings)


def compare_recipes(model: str, corpus_dir: Path, split: str, output: Path, recipes: Sequence[str],
                    limit: int = 400, repeats: int = 3) -> Dict:
    """Every recipe in `recipes` (keys of RECIPES) on the first `limit`
    windows of `split`; writes `output` (JSON) and returns it."""
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        raise QuantizationBenchmarkError(f"unknown recipes {unknown}: choose from {list(RECIPES)}")
    path = corpus_dir / f"{split}.spacy"
    if not path.exists():
        raise QuantizationBenchmarkError(f"{path}: no such file")
    import numpy
    import onnxruntime
    import srsly
    import torch
    from spacy.tokens import DocBin

    from med_ner.inference.loading import load_pipeline
    from med_ner.inference import int8_recipe as fast_inference
    from med_ner.inference.onnx_export import build_onnx

    nlp = load_pipeline(model, inference="float32")
    docs = [nlp.make_doc(d.text) for d in DocBin().from_disk(path).get_docs(nlp.vocab)]
    windows = split_windows(nlp, docs, limit)
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shim._model.save_pretrained(work / "hf")
        shim._hfmodel.tokenizer.save_pretrained(work / "hf")
        plain = work / "plain.onnx"
        build_onnx(work / "hf", plain, quantized=False)
        exact, float_seconds = _hidden(_session(plain), windows)
        for recipe in recipes:
            target = work / "recipe.onnx"
            build_recipe(plain, target, recipe, shim._hfmodel.tokenizer, work)
            session = _session(target)
            approx, _ = _hidden(session, windows)
            seconds = min(_hidden(session, windows)[1] for _ in range(repeats))
            errors = [float(numpy.linalg.norm(a - e) / numpy.linalg.norm(e)) for a, e in zip(approx, exact)]
            rows.append({"recipe": recipe, "relative_error": float(numpy.mean(errors)),
                         "session_seconds": seconds, "file_mb": target.stat().st_size / 2 ** 20})
            print(f"{recipe}: error {rows[-1]['relative_error']:.4f}, {seconds:.2f} s", flush=True)
    result = {"model": model, "corpus": str(corpus_dir), "split": split, "windows": len(windows),
              "word_pieces": int(sum(w["input_ids"].shape[1] for w in windows)), "threads": torch.get_num_threads(),
              "repeats": repeats, "float32_onnx_seconds": float_seconds, "onnxruntime": onnxruntime.__version__,
              "torch": torch.__version__, "smoothing_alpha": fast_inference.SMOOTHING_ALPHA, "rows": rows}
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, result)
    return result


def markdown_table(result: Dict) -> str:
    lines = [f"onnx-int8 recipes of `{result['model']}` on `{result['corpus']}` {result['split']} "
             f"({result['windows']} windows, {result['word_pieces']} word pieces), {result['threads']} threads, "
             f"onnxruntime {result['onnxruntime']}. Error: the last hidden state against the float32 ONNX graph, "
             f"relative, averaged over windows. Seconds: the fastest of {result['repeats']} runs over the windows, "
             f"one window a run (float32 ONNX, one run: {result['float32_onnx_seconds']:.2f} s).", "",
             "| recipe | relative error | session s | file MB |", "| --- | ---: | ---: | ---: |"]
    for row in result["rows"]:
        lines.append(f"| {row['recipe']} | {100 * row['relative_error']:.2f}% | {row['session_seconds']:.2f} | "
                     f"{row['file_mb']:.1f} |")
    return "\n".join(lines) + "\n"
