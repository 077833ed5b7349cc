"""`predict`: print the entities a pipeline finds in text."""
from pathlib import Path
from typing import Optional

import typer

from med_ner.cli.app import app, fail, inference_option
from med_ner.corpus.conversion import ConversionError
from med_ner.inference.loading import PipelineError, load_pipeline
from med_ner.prediction.predict import format_entities, read_texts


@app.command("predict")
def predict_command(
    text: Optional[str] = typer.Argument(None, help="Text to tag; '-' or nothing reads standard input"),
    model: str = typer.Option("en_med_ner", "--model", "-m", help="Pipeline directory or package name"),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Read the text from this file", exists=True),
    lines: bool = typer.Option(False, "--lines", help="Each input line is a separate text"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per text"),
    code: Optional[str] = typer.Option(None, "--code", help="Python files with registered functions, comma-separated"),
    cpu_int8: bool = typer.Option(False, "--cpu-int8", help="Int8 transformer inference on CPU (same as --inference int8)"),
    inference: Optional[str] = inference_option(),
):
    """Tag text with a NER pipeline: `Entity: <text>, Label: <LABEL>` lines, or one JSON object per text."""
    try:
        texts = read_texts(text, file, lines)
        nlp = load_pipeline(model, code, inference=inference or ("int8" if cpu_int8 else None))
    except (ValueError, ConversionError, PipelineError) as err:
        fail(str(err))
    for line in format_entities(nlp.pipe(texts), as_json):
        typer.echo(line)
