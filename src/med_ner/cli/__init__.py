"""The `med-ner` command: one typer app, a thin command per job over the
library's plain functions, grouped as in spaCy (`med-ner convert brat`).
`python -m med_ner --help` lists them."""
from med_ner.cli import (  # noqa: F401  (each module registers its commands on the app)
    annotate,
    calibrate,
    convert,
    demo,
    evaluate,
    package,
    predict,
    serve,
    train,
    visualize,
    vocab,
)
from med_ner.cli.app import app

__all__ = ["app"]
