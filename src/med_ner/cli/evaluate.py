"""`evaluate`: score a pipeline on a DocBin with spaCy's scorer."""
from pathlib import Path
from typing import Optional

import srsly
import typer

from med_ner.cli.app import app, check_output_file, fail, inference_option
from med_ner.corpus.conversion import ConversionError
from med_ner.inference.loading import PipelineError
from med_ner.evaluation.evaluate import evaluate_model, markdown_table


@app.command("evaluate")
def evaluate_command(
    model: str = typer.Argument(..., help="Pipeline directory or installed package name"),
    data_path: Path = typer.Argument(..., help="DocBin to score", exists=True),
    output: Path = typer.Option(..., "--output", help="Metrics JSON"),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Markdown table"),
    split: str = typer.Option("test", "--split", help="Name of the split, recorded in the outputs"),
    code: Optional[str] = typer.Option(None, "--code", help="Python files with registered functions, comma-separated"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU id, or -1 for CPU"),
    errors_view: Optional[str] = typer.Option(None, "--errors-view", help="Link to the displaCy errors page, relative to the markdown"),
    cpu_int8: bool = typer.Option(False, "--cpu-int8", help="Score with int8 transformer inference on CPU"),
    train_path: Optional[Path] = typer.Option(None, "--train", exists=True, help="Training DocBin: also report "
                                              "recall on gold mentions whose text was / was not a training mention"),
    inference: Optional[str] = inference_option(),
):
    """Evaluate a pipeline with spaCy's scorer (JSON + markdown, rewritten each run)."""
    check_output_file(output)
    check_output_file(markdown, "--markdown output")
    try:
        metrics = evaluate_model(model, data_path, split, gpu_id, train_path=train_path, code=code, inference=inference or ("int8" if cpu_int8 else None))
    except (PipelineError, ConversionError, ValueError) as err:
        fail(str(err))
    metrics["cpu_int8"] = cpu_int8
    metrics["inference"] = inference
    if errors_view:
        metrics["errors_view"] = errors_view
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, metrics)
    table = markdown_table(metrics)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(table, encoding="utf-8")
    typer.echo(table)
