"""`predict`: print the entities a pipeline finds in text."""
from pathlib import Path
from typing import Optional

import typer

from med_ner.cli.app import CODE_OPTION, INFERENCE_OPTION, MODEL_OPTION, THRESHOLD_OPTION, app, fail
from med_ner.components.entity_confidence import check_threshold, set_threshold
from med_ner.corpus.reading import ConversionError
from med_ner.inference.loading import PipelineError, load_pipeline
from med_ner.outputs import echo_lines
from med_ner.prediction.predict import check_lengths, format_entities, read_texts


@app.command("predict")
def predict_command(
    text: Optional[str] = typer.Argument(None, help="Text to tag; '-' or nothing reads standard input"),
    model: str = MODEL_OPTION,
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Read the text from this file", exists=True),
    lines: bool = typer.Option(False, "--lines", help="Each input line is a separate text"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per text"),
    code: Optional[str] = CODE_OPTION,
    inference: Optional[str] = INFERENCE_OPTION,
    threshold: Optional[float] = THRESHOLD_OPTION,
):
    """Tag text with a NER pipeline: `Entity: <text>, Label: <LABEL>` lines, or one JSON object per text."""
    try:
        if threshold is not None:
            check_threshold(threshold, "--threshold")
        texts = read_texts(text, file, lines)
        nlp = load_pipeline(model, code, inference=inference)
        set_threshold(nlp, threshold)
        check_lengths(texts, nlp.max_length, lines)
        echo_lines(format_entities(nlp.pipe(texts), as_json))  # a full disk or closed pipe: OutputError
    except (ValueError, ConversionError, PipelineError) as err:
        fail(str(err))
