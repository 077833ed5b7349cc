"""The project's benchmarks (not part of the med_ner wheel), one group each:

    python scripts/benchmark.py systems compare|system      side-by-side NER systems on one corpus
    python scripts/benchmark.py inference runtimes|pipelines|annotate   CPU inference runtimes
    python scripts/benchmark.py quantization                onnx-int8 quantization recipes
    python scripts/benchmark.py context                     negation/uncertainty next to negspacy, medspaCy
    python scripts/benchmark.py service                     the HTTP service under load
    python scripts/benchmark.py confidence                  words/s with and without entity_confidence (or --components)
"""
import sys
from pathlib import Path
from typing import List, Optional

import srsly
import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench package beside this script

from bench import confidence as confidence_benchmark  # noqa: E402
from bench import context as context_benchmark  # noqa: E402
from bench import inference as inference_benchmark  # noqa: E402
from bench import quantization as quantization_benchmark  # noqa: E402
from bench import systems  # noqa: E402
from med_ner.cli.app import CODE_OPTION, INFERENCE_OPTION, fail  # noqa: E402
from med_ner.inference.loading import PipelineError, load_pipeline  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="The project's benchmarks (not part of the med_ner wheel).")
systems_app = typer.Typer(no_args_is_help=True, help="Side-by-side NER systems on one corpus: this pipeline, the HF "
                          "Trainer recipe, a CRF and spaCy's CNN NER.")
inference_app = typer.Typer(no_args_is_help=True, help="CPU inference runtimes of a trained pipeline.")
app.add_typer(systems_app, name="systems")
app.add_typer(inference_app, name="inference")


@systems_app.command("system")
def system_command(
    system: str = typer.Argument(..., help=f"One of {', '.join(systems.SYSTEMS)}, spacy-transformer-features"),
    corpus_dir: Path = typer.Argument(..., help="Directory with train/dev/test.spacy", exists=True),
    output: Path = typer.Option(..., "--output", help="Result JSON of this system"),
    lang: str = typer.Option("en", "--lang"),
    transformer: str = typer.Option(systems.DEFAULT_TRANSFORMER, "--transformer"),
    epochs: float = typer.Option(3.0, "--epochs", help="Passes over the training words, for every system"),
    words_per_step: int = typer.Option(500, "--words-per-step", help="Words per spaCy update (the configs' batcher)"),
    crf_iterations: int = typer.Option(100, "--crf-iterations"),
    rescore_only: bool = typer.Option(False, "--rescore", help="Reuse the model and training figures of an earlier "
                                      "run of this system (spaCy or HF); predict and score again"),
    config: str = typer.Option("", "--config", help="For a spaCy system: train with this config (a file in "
                               "configs/ or a path) instead of the system's own, e.g. for a recipe experiment"),
    overrides: List[str] = typer.Option([], "--set", help="For a spaCy system: a config override section.key=value "
                                        "(repeatable), e.g. training.dropout=0.2"),
):
    """Train and score one system (run by `compare`, one process per system); the result is named after
    --output's file name."""
    try:
        out = systems.run_system(system, corpus_dir, output, lang, transformer, epochs, words_per_step,
                                 crf_iterations, rescore_only, config, overrides)
    except systems.BenchmarkError as err:
        fail(str(err))
    typer.echo(f"{system}: F1 {out['test']['f'] * 100:.2f}, train {out['train_seconds']} s, "
               f"inference {out['infer_words_per_second']} words/s, peak RSS training {out['train_peak_rss_mb']} MB, "
               f"inference {out['infer_peak_rss_mb']} MB")


@systems_app.command("compare")
def compare_command(
    corpus: str = typer.Argument(..., help="Corpus name: reads corpus/<corpus>/"),
    output_dir: Path = typer.Option(Path("benchmarks/systems"), "--output-dir"),
    system_names: str = typer.Option(",".join(systems.SYSTEMS), "--systems", help="Comma-separated subset"),
    lang: str = typer.Option("en", "--lang"),
    transformer: str = typer.Option(systems.DEFAULT_TRANSFORMER, "--transformer"),
    epochs: float = typer.Option(3.0, "--epochs"),
    corpus_root: Path = typer.Option(Path("corpus"), "--corpus-root"),
    reuse: bool = typer.Option(False, "--reuse", help="Keep systems whose result JSON exists; run only the others"),
):
    """Run every system one after another and write <output-dir>/<corpus>.json and .md."""
    names = [s.strip() for s in system_names.split(",") if s.strip()]
    try:
        table = systems.compare(corpus, output_dir, names, lang, transformer, epochs, corpus_root, reuse,
                                say=lambda line: typer.echo(line, err=True))
    except systems.BenchmarkError as err:
        fail(str(err))
    typer.echo(table)


@inference_app.command("runtimes")
def inference_command(
    model: str = typer.Argument(..., help="Trained pipeline (directory or installed name)"),
    corpus_dir: Path = typer.Argument(..., help="Directory with test.spacy", exists=True),
    output: Path = typer.Option(..., "--output", help="Result JSON; the markdown table goes beside it (.md)"),
    options: str = typer.Option(",".join(inference_benchmark.DEFAULT_ROWS), "--options",
                                help=f"Comma-separated rows: hf and any of {', '.join(inference_benchmark.OPTIONS)}"),
    hf_model: Optional[str] = typer.Option(None, "--hf-model", help="Trained HF token-classification model for the "
                                           "hf row (default: the pipeline's transformer with an untrained head, "
                                           "speed only)"),
    batch_size: int = typer.Option(32, "--batch-size", help="Texts per call, for both sides"),
    passes: int = typer.Option(2, "--passes", help="Times through the test texts (RSS after each)"),
):
    """Each inference option of a pipeline as a row next to the HF pipeline, on the same texts."""
    names = [o.strip() for o in options.split(",") if o.strip()]
    try:
        result = inference_benchmark.compare_inference(model, corpus_dir, names, output, hf_model, batch_size, passes)
    except inference_benchmark.InferenceBenchmarkError as err:
        fail(str(err))
    table = inference_benchmark.markdown_table(result)
    output.with_suffix(".md").write_text(table, encoding="utf-8")
    typer.echo(table)


@inference_app.command("pipelines")
def pipelines_command(
    models: List[str] = typer.Argument(..., help="Two or more trained pipelines (directories or installed names)"),
    corpus_dir: Path = typer.Option(..., "--corpus-dir", help="Directory with test.spacy", exists=True),
    output: Path = typer.Option(..., "--output", help="Result JSON; the markdown table goes beside it (.md)"),
    option: str = typer.Option("onnx-int8", "--option", help=f"One of {', '.join(inference_benchmark.OPTIONS)}"),
    rounds: int = typer.Option(3, "--rounds", help="Alternating rounds (A, B, A, B, ...)"),
    batch_size: int = typer.Option(32, "--batch-size", help="Texts per call"),
    passes: int = typer.Option(1, "--passes", help="Times through the test texts per row"),
):
    """Words/s of several pipelines with the same runtime, as ratios to the first, from rows that alternate."""
    try:
        result = inference_benchmark.compare_pipelines(models, corpus_dir, option, output, rounds, batch_size, passes)
    except inference_benchmark.InferenceBenchmarkError as err:
        fail(str(err))
    table = inference_benchmark.pipelines_table(result)
    output.with_suffix(".md").write_text(table, encoding="utf-8")
    typer.echo(table)


@inference_app.command("annotate")
def annotate_benchmark_command(
    model: str = typer.Argument(..., help="Trained pipeline (directory or installed name)"),
    input_dir: Path = typer.Argument(..., help="Folder of .txt documents (e.g. the 200 MACCROBAT texts)", exists=True),
    output: Path = typer.Option(..., "--output", help="Result JSON; the markdown table goes beside it (.md)"),
    options: str = typer.Option("float32,int8,onnx-int8", "--options", help="Comma-separated inference options"),
    dask_workers: int = typer.Option(2, "--dask-workers", help="Also run each option on a local Dask cluster "
                                     "of this many workers (0: local only)"),
):
    """`annotate` docs/s and RSS for each inference option, locally and on Dask."""
    names = [o.strip() for o in options.split(",") if o.strip()]
    try:
        result = inference_benchmark.compare_annotate(model, input_dir, names, output, dask_workers)
    except inference_benchmark.InferenceBenchmarkError as err:
        fail(str(err))
    table = inference_benchmark.annotate_table(result)
    output.with_suffix(".md").write_text(table, encoding="utf-8")
    typer.echo(table)


@app.command("quantization")
def quantization_command(
    model: str = typer.Argument(..., help="Trained pipeline (directory or installed name)"),
    corpus_dir: Path = typer.Argument(..., help="Directory with <split>.spacy", exists=True),
    output: Path = typer.Option(..., "--output", help="Result JSON; the markdown table goes beside it (.md)"),
    split: str = typer.Option("dev", "--split", help="Split whose texts give the windows (the selection split)"),
    recipes: str = typer.Option("all", "--recipes", help="Comma-separated recipe names, or all"),
    windows: int = typer.Option(400, "--windows", help="At most this many windows"),
):
    """onnx-int8 quantization recipes: hidden-state error against float32 and ONNX session seconds."""
    names = list(quantization_benchmark.RECIPES) if recipes == "all" else [r.strip() for r in recipes.split(",")]
    if windows < 1:
        fail(f"--windows {windows}: must be at least 1")
    try:
        result = quantization_benchmark.compare_recipes(model, corpus_dir, split, output, names, limit=windows)
    except (quantization_benchmark.QuantizationBenchmarkError, PipelineError) as err:
        fail(str(err))
    table = quantization_benchmark.markdown_table(result)
    output.with_suffix(".md").write_text(table, encoding="utf-8")
    typer.echo(table)


@systems_app.command("hf-predict", hidden=True)
def hf_predict_command(model: Path, test: Path, output: Path, lang: str = typer.Option("en", "--lang")):
    """HF token-classification pipeline over the test sentences (run by `system hf-trainer`)."""
    systems.hf_predict(model, test, output, lang)


@inference_app.command("row", hidden=True)
def inference_row_command(kind: str, model: str, texts: str, option: str, batch_size: str, passes: str):
    """One row of `inference runtimes` in a fresh process (run by it)."""
    inference_benchmark.row_main(kind, model, texts, option, batch_size, passes)


@app.command("context")
def benchmark_context_command(
    model: Path = typer.Argument(..., help="Pipeline with clinical_context (e.g. training/MACCROBAT/model-final)", exists=True),
    data_path: Path = typer.Argument(..., help="Test DocBin with gold entities and BRAT polarity", exists=True),
    output: Path = typer.Option(..., "--output", help="Results JSON; the markdown goes beside it (.md)"),
    medspacy_python: Optional[Path] = typer.Option(None, "--medspacy-python",
                                                   help="Python of a venv with medspacy==1.3.1 (`spacy project run setup-medspacy`)"),
    end_to_end: bool = typer.Option(True, "--end-to-end/--gold-only", help="Also score on predicted entities"),
    code: Optional[str] = CODE_OPTION,
):
    """Score clinical_context's negation/uncertainty flags next to negspacy and medspaCy."""
    if medspacy_python is not None and not medspacy_python.exists():
        fail(f"{medspacy_python} not found: run `spacy project run setup-medspacy` first, "
             "or leave out --medspacy-python to skip the medspaCy row")
    try:
        nlp = load_pipeline(str(model), code)
        result = context_benchmark.run_context_benchmark(nlp, data_path, medspacy_python, end_to_end)
    except (PipelineError, ValueError) as err:
        fail(f"{model}: {err}")
    result = {"model": str(model), **result}
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, result)
    table = context_benchmark.markdown(result)
    output.with_suffix(".md").write_text(table, encoding="utf-8")
    typer.echo(table)


@app.command("confidence")
def confidence_command(
    model: str = typer.Argument(..., help="Pipeline directory with entity_confidence (`med-ner calibrate`)"),
    corpus_dir: Path = typer.Argument(..., help="Directory with <split>.spacy", exists=True),
    output: Path = typer.Option(..., "--output", help="Result JSON; the markdown table goes beside it (.md)"),
    option: str = typer.Option("onnx-int8", "--option", help=f"One of {', '.join(inference_benchmark.OPTIONS)}"),
    rounds: int = typer.Option(5, "--rounds", help="Alternating rounds (without, with; with, without; ...)"),
    batch_size: int = typer.Option(32, "--batch-size", help="Texts per call"),
    split: str = typer.Option("test", "--split", help="Split whose texts are tagged"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="At most this many documents"),
    components: str = typer.Option("entity_confidence", "--components",
                                   help="The components left out of the 'without' row, comma-separated (e.g. "
                                        "attribute_spans,attribute_linker)"),
):
    """Words/s of one pipeline with and without entity_confidence (or --components), in one process on the same
    texts (not a test: run it alone on the machine)."""
    names = [name.strip() for name in components.split(",") if name.strip()]
    try:
        result = confidence_benchmark.compare_confidence(model, corpus_dir, output, option, rounds, batch_size,
                                                         split, limit, names)
    except (confidence_benchmark.ConfidenceBenchmarkError, PipelineError) as err:
        fail(str(err))
    table = confidence_benchmark.markdown_table(result)
    output.with_suffix(".md").write_text(table, encoding="utf-8")
    typer.echo(table)


@app.command("service")
def service_command(
    model: str = typer.Option("en_med_ner", "--model", "-m", help="Pipeline directory or installed package"),
    texts: Path = typer.Option(Path("assets/sample/train.jsonl"), "--texts", exists=True,
                               help="JSONL with a \"text\" field a line; the load cuts texts of mixed length from it"),
    concurrency: str = typer.Option("1,4,16", "--concurrency", help="Client counts, comma-separated"),
    requests: int = typer.Option(1000, "--requests", min=1, help="Single-text requests at each concurrency"),
    max_batch_size: int = typer.Option(32, "--max-batch-size", min=1, help="The service's and offline nlp.pipe's"),
    threads: int = typer.Option(0, "--threads", help="torch threads in the service and offline (0: torch's default)"),
    inference: Optional[str] = INFERENCE_OPTION,
    code: Optional[str] = CODE_OPTION,
    output: Path = typer.Option(Path("benchmarks/service/load.json"), "--output",
                                help="Results JSON; the table goes beside it (.md)"),
):
    """Latency and throughput of `med-ner serve` at a few concurrency levels, against offline nlp.pipe (not a
    test: run it alone on the machine)."""
    from bench.service import benchmark_service

    try:
        levels = [int(level) for level in concurrency.split(",") if level.strip()]
    except ValueError:
        fail(f"--concurrency: {concurrency!r} is not a comma-separated list of numbers")
    try:
        sample = [record["text"] for record in srsly.read_jsonl(texts)]
    except (ValueError, KeyError, TypeError) as err:
        fail(f"{texts}: not JSONL with a \"text\" field on every line ({err})")
    try:
        result = benchmark_service(model, sample, levels, requests, output, code=code, inference=inference,
                                   threads=threads, batch_size=max_batch_size)
    except (RuntimeError, PipelineError) as err:
        fail(str(err))
    typer.echo(output.with_suffix(".md").read_text(encoding="utf-8"))
    typer.echo(f"wrote {output} and {output.with_suffix('.md')} ({len(result['levels'])} levels)")


if __name__ == "__main__":
    app(prog_name="benchmark.py")
