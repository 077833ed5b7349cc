"""Packaging commands: `package-meta` (the wheel's meta with test scores) and
`evaluate-package` (install the wheels, load by name, same scores)."""
from pathlib import Path
from typing import List, Optional

import typer

from med_ner.cli.app import app, fail
from med_ner.corpus.conversion import ConversionError
from med_ner.packaging.evaluate_package import PackageCheckError, check_installed_package
from med_ner.packaging.meta import write_meta


@app.command("package-meta")
def package_meta_command(
    model_path: Path = typer.Argument(..., help="Trained pipeline directory (model-best)", exists=True),
    metrics_path: Path = typer.Argument(..., help="Test metrics JSON from `med-ner evaluate`", exists=True),
    output: Path = typer.Argument(..., help="meta.json to write"),
    name: str = typer.Option(..., "--name"),
    version: str = typer.Option(..., "--version"),
    description: str = typer.Option("", "--description"),
    license_name: str = typer.Option("MIT", "--license"),
    corpus: Optional[str] = typer.Option(None, "--corpus", help="The corpus the pipeline was trained on "
                                         "(configs/corpora.yml); not for evaluate-mix metrics"),
    table: Path = typer.Option(Path("configs/corpora.yml"), "--table", help="Corpus table"),
    transformer: str = typer.Option(..., "--transformer", help="The transformer name the pipeline was trained from"),
    requirement: List[str] = typer.Option([], "--requirement", help="A pip requirement of the package (repeatable)"),
    harmonisation: Optional[Path] = typer.Option(None, "--harmonisation", exists=True,
                                                 help="Label harmonisation table, for evaluate-mix metrics"),
    headline: Optional[str] = typer.Option(None, "--headline", help="With evaluate-mix metrics: the corpus whose "
                                           "scores are the meta's performance (default: the first)"),
):
    """Write the package meta with test-split scores."""
    if corpus is None and harmonisation is None:
        fail("give --corpus (evaluate metrics) or --harmonisation (evaluate-mix metrics)")
    try:
        meta = write_meta(model_path, metrics_path, output, name, version, description, license_name, corpus, table,
                          transformer, list(requirement), harmonisation, headline)
    except (ValueError, ConversionError) as err:
        fail(str(err))
    typer.echo(f"wrote {output}: test F1 {meta['performance']['ents_f'] * 100:.2f}, "
               f"requirements {meta['requirements']}")


@app.command("evaluate-package")
def evaluate_package_command(
    wheel: Path = typer.Argument(..., help="The built model wheel", exists=True, dir_okay=False),
    data_path: Path = typer.Argument(..., help="Test DocBin", exists=True),
    expected: Path = typer.Argument(..., help="Metrics JSON of the trained pipeline on the same data", exists=True),
    output: Path = typer.Option(..., "--output", help="Metrics JSON of the installed package"),
    target: Path = typer.Option(..., "--target", help="Directory to install the wheels into (emptied first)"),
    library: List[Path] = typer.Option([], "--with", help="Another wheel to install beside it, e.g. the med_ner "
                                       "library wheel the model requires (repeatable)", exists=True, dir_okay=False),
):
    """Install the wheel(s), load the model by name offline and check its test scores."""
    try:
        message = check_installed_package([wheel, *library], data_path, expected, output, target, say=typer.echo)
    except PackageCheckError as err:
        fail(str(err))
    typer.echo(message)
