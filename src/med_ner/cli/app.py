"""The `med-ner` typer app and what its commands share."""
from typing import NoReturn

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="en_med_ner: convert medical NER corpora, train, evaluate, package, annotate and serve.")


def fail(message: str) -> NoReturn:
    """Stop with `error: <message>` on stderr and exit status 1, never a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
