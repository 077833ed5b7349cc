"""`visualize`: displaCy views of a pipeline's predictions and errors."""
from pathlib import Path
from typing import Optional

import typer

from med_ner.cli.app import CODE_OPTION, app, check_paths, fail
from med_ner.inference.loading import PipelineError, load_pipeline
from med_ner.prediction.visualize import write_views


@app.command("visualize")
def visualize_command(
    model: str = typer.Argument(..., help="Pipeline directory or package name"),
    data_path: Path = typer.Argument(..., help="DocBin with gold entities", exists=True),
    output_dir: Path = typer.Argument(..., help="Directory for predictions.html, errors.html and, where the "
                                                "pipeline links attributes, attributes.html"),
    limit: int = typer.Option(50, "--limit", help="Documents in predictions.html (0 = all)"),
    code: Optional[str] = CODE_OPTION,
):
    """Write displaCy views of predictions and errors (gold vs predicted), and of linked attributes as arcs."""
    from med_ner.outputs import OutputError

    check_paths([("predictions view", output_dir / "predictions.html"), ("errors view", output_dir / "errors.html"),
                 ("attributes view", output_dir / "attributes.html")], [("data", data_path)])
    try:
        nlp = load_pipeline(model, code)
        shown, links = write_views(nlp, data_path, output_dir, limit)
    except (PipelineError, OutputError) as err:
        fail(str(err))
    views = f"{output_dir / 'errors.html'}" + (f" and {output_dir / 'attributes.html'}" if links else "")
    typer.echo(f"wrote {output_dir / 'predictions.html'} ({shown} documents){',' if links else ' and'} {views}")
