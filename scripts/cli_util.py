"""Helpers shared by the project's command-line scripts."""
from pathlib import Path
from typing import Optional


def import_code(paths: Optional[str]) -> None:
    """Import Python files with registered functions and factories, given
    comma-separated as for `spacy package --code`."""
    if not paths:
        return
    from spacy.util import import_file

    for item in paths.split(","):
        path = Path(item.strip())
        if not path.is_file():
            raise FileNotFoundError(f"--code: {path} is not a file")
        import_file(path.stem, path)


def load_pipeline(model: str, code: Optional[str] = None, cpu_int8: bool = False):
    """spacy.load after importing --code, exiting with a clear message when
    the pipeline is not there; `cpu_int8` turns on int8 transformer inference."""
    import spacy
    import typer

    import_code(code)
    try:
        return spacy.load(model, config=int8_overrides(cpu_int8))
    except OSError as err:
        typer.echo(f"error: cannot load pipeline {model!r}: install the en_med_ner wheel or pass --model "
                   f"<pipeline directory> ({err})", err=True)
        raise typer.Exit(1)


def int8_overrides(cpu_int8: bool) -> dict:
    """spacy.load config overrides for the cpu_int8 option (none when off)."""
    if not cpu_int8:
        return {}
    from pipeline_functions import CPU_INT8

    return dict(CPU_INT8)
