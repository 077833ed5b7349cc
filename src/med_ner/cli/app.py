"""The `med-ner` typer app and what its commands share."""
from pathlib import Path
from typing import NoReturn, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="en_med_ner: convert medical NER corpora, train, evaluate, package, annotate and serve.")


def fail(message: str) -> NoReturn:
    """Stop with `error: <message>` on stderr and exit status 1, never a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def check_output_file(path: Optional[Path], what: str = "output") -> None:
    """Before any work: an output that names a folder would fail only when written."""
    check_paths([(what, path)])


def check_paths(outputs, inputs=()) -> None:
    """Before any work: every output of a command (med_ner.outputs.check_outputs)."""
    from med_ner.outputs import OutputError, check_outputs

    try:
        check_outputs(outputs, inputs)
    except OutputError as err:
        fail(str(err))


def inference_option():
    """The --inference option of the commands that load a pipeline to predict."""
    return typer.Option(None, "--inference", help="Transformer runtime on CPU: float32, int8, bf16, onnx or onnx-int8 "
                        "(default: the pipeline's own; see the README's Fast CPU inference)")
