"""Benchmark commands: the side-by-side NER benchmark (`benchmark compare`,
`benchmark system`) and the negation/uncertainty benchmark (`benchmark-context`)."""
from pathlib import Path
from typing import List, Optional

import srsly
import typer

from med_ner.benchmark import context as context_benchmark
from med_ner.benchmark import inference as inference_benchmark
from med_ner.benchmark import quantization as quantization_benchmark
from med_ner.benchmark import systems
from med_ner.cli.app import app, fail
from med_ner.inference.loading import PipelineError, load_pipeline

benchmark_app = typer.Typer(add_completion=False, no_args_is_help=True, help=systems.__doc__)
app.add_typer(benchmark_app, name="benchmark")


@benchmark_app.command("system")
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


@benchmark_app.command("compare")
def compare_command(
    corpus: str = typer.Argument(..., help="Corpus name: reads corpus/<corpus>/"),
    output_dir: Path = typer.Option(Path("benchmarks"), "--output-dir"),
    system_names: str = typer.Option(",".join(systems.SYSTEMS), "--systems", help="Comma-separated subset"),
    lang: str = typer.Option("en", "--lang"),
    transformer: str = typer.Option(systems.DEFAULT_TRANSFORMER, "--transformer"),
    epochs: float = typer.Option(3.0, "--epochs"),
    corpus_root: Path = typer.Option(Path("corpus"), "--corpus-root"),
    reuse: bool = typer.Option(False, "--reuse", help="Keep systems whose result JSON exists; run only the others"),
):
    """Run every system one after another and write benchmarks/<corpus>.json and .md."""
    names = [s.strip() for s in system_names.split(",") if s.strip()]
    try:
        table = systems.compare(corpus, output_dir, names, lang, transformer, epochs, corpus_root, reuse,
                                say=lambda line: typer.echo(line, err=True))
    except systems.BenchmarkError as err:
        fail(str(err))
    typer.echo(table)


@benchmark_app.command("inference")
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


@benchmark_app.command("pipelines")
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


@benchmark_app.command("annotate")
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


@benchmark_app.command("quantization")
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


@benchmark_app.command("hf-predict", hidden=True)
def hf_predict_command(model: Path, test: Path, output: Path, lang: str = typer.Option("en", "--lang")):
    """HF token-classification pipeline over the test sentences (run by `system hf-trainer`)."""
    systems.hf_predict(model, test, output, lang)


@app.command("benchmark-context")
def benchmark_context_command(
    model: Path = typer.Argument(..., help="Pipeline with clinical_context (e.g. training/MACCROBAT/model-final)", exists=True),
    data_path: Path = typer.Argument(..., help="Test DocBin with gold entities and BRAT polarity", exists=True),
    output: Path = typer.Option(..., "--output", help="Results JSON; the markdown goes beside it (.md)"),
    medspacy_python: Optional[Path] = typer.Option(None, "--medspacy-python",
                                                   help="Python of a venv with medspacy==1.3.1 (`spacy project run setup-medspacy`)"),
    end_to_end: bool = typer.Option(True, "--end-to-end/--gold-only", help="Also score on predicted entities"),
    code: Optional[str] = typer.Option(None, "--code", help="Python files with registered functions, comma-separated"),
):
    """Score the pipeline's negation/uncertainty flags next to negspacy and medspaCy."""
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
