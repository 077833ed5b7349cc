"""The `med-ner` typer app, its command groups and what their commands share."""
from pathlib import Path
from typing import NoReturn

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="en_med_ner: convert medical NER corpora, train, evaluate, package, annotate and serve.")
convert_app = typer.Typer(no_args_is_help=True, help="Convert corpora to DocBins, each file with a conversion report.")
evaluate_app = typer.Typer(no_args_is_help=True, help="Score a pipeline: on one DocBin, on a corpus mix, or installed "
                           "from its wheel.")
package_app = typer.Typer(no_args_is_help=True, help="Package a trained pipeline.")
app.add_typer(convert_app, name="convert")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(package_app, name="package")

# Options that several commands share (typer reads an option object, never changes it).
CODE_OPTION = typer.Option(None, "--code", help="Python files with registered functions, comma-separated")
MODEL_OPTION = typer.Option("en_med_ner", "--model", "-m", help="Pipeline directory or installed package")
MODEL_ARGUMENT = typer.Argument(..., help="Pipeline directory or installed package name")
INFERENCE_OPTION = typer.Option(None, "--inference", help="Transformer runtime on CPU: float32, int8, bf16, onnx or "
                                "onnx-int8 (default: the pipeline's own; see the README's Fast CPU inference)")
THRESHOLD_OPTION = typer.Option(None, "--threshold", help="Drop entities whose confidence is below this (0-1; "
                                "default: the pipeline's entity_confidence threshold)")
GPU_OPTION = typer.Option(-1, "--gpu-id", help="GPU id, or -1 for CPU")
LABEL_MAP_OPTION = typer.Option(None, "--label-map", help="JSON label map; without it all labels pass")
REPORT_OPTION = typer.Option(None, "--report", help="Report JSON (default: reports/ beside output)")
MISALIGNED_OPTION = typer.Option("expand", "--misaligned",
                                 help="Span edges inside a token: expand, contract (both reported) or error")
TABLE_OPTION = typer.Option(Path("configs/corpora.yml"), "--table", help="Corpus table")
ASSETS_OPTION = typer.Option(Path("assets"), "--assets", help="Folder holding assets/<corpus>/")
HARMONISATION_OPTION = typer.Option(Path("configs/label_harmonisation.yml"), "--harmonisation", exists=True,
                                    help="Label harmonisation table")


def fail(message: str) -> NoReturn:
    """Stop with `error: <message>` on stderr and exit status 1, never a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def check_paths(outputs, inputs=(), folders=()) -> None:
    """Before any work: every output of a command (med_ner.outputs.check_outputs)."""
    from med_ner.outputs import OutputError, check_outputs

    try:
        check_outputs(outputs, inputs, folders)
    except OutputError as err:
        fail(str(err))

