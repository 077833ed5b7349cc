"""`calibrate`: add entity_confidence to a pipeline, calibrated on dev."""
from pathlib import Path
from typing import Optional

import typer

from med_ner.cli.app import app, fail
from med_ner.corpus.reading import ConversionError
from med_ner.packaging.add_confidence import add_confidence


@app.command("calibrate")
def calibrate_command(
    model: str = typer.Argument(..., help="Trained pipeline directory or installed package"),
    dev_path: Path = typer.Argument(..., help="Dev DocBin the calibration is fitted on (never test)", exists=True,
                                    dir_okay=False),
    output: Path = typer.Option(..., "--output", help="Directory to save the pipeline with entity_confidence to"),
    method: str = typer.Option("platt", "--method", help="platt (logistic on the logit of the raw score), "
                               "platt-label (one per label), isotonic, or identity (raw scores)"),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Drop entities below this confidence "
                                              "(default: keep the component's, else 0.0: keep all)"),
    candidates: Optional[bool] = typer.Option(None, "--candidates/--no-candidates",
                                              help="Keep dropped and runner-up spans in doc.spans['ner_candidates']"),
):
    """Add entity_confidence (ent._.confidence on every entity) after the ner, or refit its calibration."""
    if output.exists() and not output.is_dir():
        fail(f"{output}: is a file, but --output is a directory")
    try:
        info = add_confidence(model, dev_path, output, method, threshold, candidates)
    except (ValueError, ConversionError) as err:
        fail(str(err))
    typer.echo(f"wrote {output}: {info['method']} calibration on {info['dev_entities']} dev entities "
               f"(dev ECE {info['dev_ece_raw']:.4f} raw, {info['dev_ece_calibrated']:.4f} calibrated), "
               f"threshold {info['threshold']}")
