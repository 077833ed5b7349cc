"""`med-ner package meta`: the model wheel's meta with test scores."""
from pathlib import Path
from typing import List, Optional

import typer

from med_ner.cli.app import TABLE_OPTION, check_paths, fail, package_app
from med_ner.corpus.reading import ConversionError
from med_ner.packaging.meta import write_meta


@package_app.command("meta")
def package_meta_command(
    model_path: Path = typer.Argument(..., help="Trained pipeline directory (model-best)", exists=True),
    metrics_path: Path = typer.Argument(..., help="Test metrics JSON from `med-ner evaluate model` or "
                                        "`med-ner evaluate mix`", exists=True),
    output: Path = typer.Argument(..., help="meta.json to write"),
    name: str = typer.Option(..., "--name"),
    version: str = typer.Option(..., "--version"),
    description: str = typer.Option("", "--description"),
    license_name: str = typer.Option("MIT", "--license"),
    corpus: Optional[str] = typer.Option(None, "--corpus", help="The corpus the pipeline was trained on "
                                         "(the corpus table); not for `evaluate mix` metrics"),
    table: Path = TABLE_OPTION,
    transformer: str = typer.Option(..., "--transformer", help="The transformer name the pipeline was trained from"),
    requirement: List[str] = typer.Option([], "--requirement", help="A pip requirement of the package (repeatable)"),
    harmonisation: Optional[Path] = typer.Option(None, "--harmonisation", exists=True,
                                                 help="Label harmonisation table, for `evaluate mix` metrics"),
    headline: Optional[str] = typer.Option(None, "--headline", help="With `evaluate mix` metrics: the corpus whose "
                                           "scores are the meta's performance (default: the first)"),
):
    """Write the package meta with test-split scores."""
    if corpus is None and harmonisation is None:
        fail("give --corpus (`evaluate model` metrics) or --harmonisation (`evaluate mix` metrics)")
    check_paths([("meta output", output)], [("model's meta.json", model_path / "meta.json"), ("metrics", metrics_path),
                                            ("--table", table), ("--harmonisation", harmonisation)])
    try:
        meta = write_meta(model_path, metrics_path, output, name, version, description, license_name, corpus, table,
                          transformer, list(requirement), harmonisation, headline)
    except (ValueError, ConversionError) as err:
        fail(str(err))
    typer.echo(f"wrote {output}: test F1 {meta['performance']['ents_f'] * 100:.2f}, "
               f"requirements {meta['requirements']}")
