"""`med-ner evaluate model|mix|package`: score a pipeline with spaCy's scorer on
one DocBin, on several corpora through the harmonisation table, or installed
from its wheel."""
from pathlib import Path
from typing import List, Optional

import typer

from med_ner.cli.app import (CODE_OPTION, GPU_OPTION, HARMONISATION_OPTION, INFERENCE_OPTION, MODEL_ARGUMENT,
                             check_paths, evaluate_app, fail)
from med_ner.corpus.reading import ConversionError
from med_ner.evaluation.evaluate import evaluate_mix, evaluate_model, mix_markdown, write_outputs
from med_ner.inference.loading import PipelineError
from med_ner.training.mix import MixError, mix_corpora


@evaluate_app.command("model")
def evaluate_model_command(
    model: str = MODEL_ARGUMENT,
    data_path: Path = typer.Argument(..., help="DocBin to score", exists=True),
    output: Path = typer.Option(..., "--output", help="Metrics JSON"),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Markdown table"),
    split: str = typer.Option("test", "--split", help="Name of the split, recorded in the outputs"),
    code: Optional[str] = CODE_OPTION,
    gpu_id: int = GPU_OPTION,
    errors_view: Optional[str] = typer.Option(None, "--errors-view", help="Link to the displaCy errors page, relative to the markdown"),
    train_path: Optional[Path] = typer.Option(None, "--train", exists=True, help="Training DocBin: also report "
                                              "recall on gold mentions whose text was / was not a training mention"),
    inference: Optional[str] = INFERENCE_OPTION,
):
    """Evaluate a pipeline on one DocBin (JSON + markdown, rewritten each run)."""
    check_paths([("--output", output), ("--markdown output", markdown)], [("data", data_path), ("--train", train_path)])
    try:
        metrics = evaluate_model(model, data_path, split, gpu_id, train_path=train_path, code=code, inference=inference)
    except (PipelineError, ConversionError, ValueError) as err:
        fail(str(err))
    metrics["inference"] = inference
    if errors_view:
        metrics["errors_view"] = errors_view
    try:
        table = write_outputs(metrics, output, markdown)
    except ConversionError as err:
        fail(str(err))
    typer.echo(table)


@evaluate_app.command("mix")
def evaluate_mix_command(
    model: str = MODEL_ARGUMENT,
    corpora: str = typer.Option("", "--corpora", help="Comma-separated corpus names (harmonisation table)"),
    config: Optional[Path] = typer.Option(None, "--config", exists=True, dir_okay=False,
                                          help="Or: the mix config whose corpora to score"),
    corpus_dir: Path = typer.Option(Path("corpus"), "--corpus-dir", help="Holds <corpus>/<split>.spacy"),
    harmonisation: Path = HARMONISATION_OPTION,
    split: str = typer.Option("test", "--split", help="Split to score"),
    train_split: str = typer.Option("train", "--train-split", help="Split whose mentions count as seen ('' for none)"),
    output: Path = typer.Option(..., "--output", help="Directory: <corpus>/<split>.json and .md, and <split>.json/.md over all"),
    code: Optional[str] = CODE_OPTION,
    gpu_id: int = GPU_OPTION,
    inference: Optional[str] = INFERENCE_OPTION,
):
    """Score one pipeline on several corpora's splits, each on the labels it annotates."""
    names = [name.strip() for name in corpora.split(",") if name.strip()]
    if bool(names) == bool(config):
        fail("give either --corpora or --config")
    try:
        if config is not None:
            names = mix_corpora(config)
    except MixError as err:
        fail(str(err))
    outputs = [(f"{name} {kind}", output / name / f"{split}.{suffix}") for name in names
               for kind, suffix in (("metrics", "json"), ("table", "md"), ("reliability diagram", "reliability.png"))]
    inputs = [(f"{name} {s} data", corpus_dir / name / f"{s}.spacy") for name in names for s in {split, train_split} if s]
    check_paths(outputs + [("metrics", output / f"{split}.json"), ("table", output / f"{split}.md")],
                inputs + [("--config", config), ("--harmonisation", harmonisation)])
    try:
        result = evaluate_mix(model, corpus_dir, names, harmonisation, split, train_split or None, gpu_id,
                              code=code, inference=inference)
    except (PipelineError, MixError, ConversionError, ValueError) as err:
        fail(str(err))
    from med_ner.outputs import output_group, write_json, write_text

    try:
        with output_group():  # every file of the run, or the old ones
            for name, metrics in result["corpora"].items():
                metrics["inference"] = inference
                write_outputs(metrics, output / name / f"{split}.json", output / name / f"{split}.md")
            write_json(output / f"{split}.json", result, "metrics")
            table = mix_markdown(result)
            write_text(output / f"{split}.md", table, "table")
    except ConversionError as err:
        fail(str(err))
    typer.echo(table)


@evaluate_app.command("package")
def evaluate_package_command(
    wheel: Path = typer.Argument(..., help="The built model wheel", exists=True, dir_okay=False),
    data_path: Path = typer.Argument(..., help="Test DocBin", exists=True),
    expected: Path = typer.Argument(..., help="Metrics JSON of the trained pipeline on the same data", exists=True),
    output: Path = typer.Option(..., "--output", help="Metrics JSON of the installed package"),
    target: Path = typer.Option(..., "--target", help="Directory to install the wheels into (emptied first)"),
    library: List[Path] = typer.Option([], "--with", help="Another wheel to install beside it, e.g. the med_ner "
                                       "library wheel the model requires (repeatable)", exists=True, dir_okay=False),
    harmonisation: str = typer.Option("", "--harmonisation", help="Label harmonisation table: map the gold labels "
                                      "through the row of --corpus first, as `evaluate mix` scores them (empty: none)"),
    corpus: str = typer.Option("", "--corpus", help="The table's row for --harmonisation (unused without it)"),
):
    """Install the wheel(s), load the model by name offline and check its test scores."""
    from med_ner.packaging.evaluate_package import PackageCheckError, check_installed_package
    from med_ner.training.harmonise import load_harmonisation

    labels = None
    if harmonisation:
        if not Path(harmonisation).is_file():
            fail(f"--harmonisation: {harmonisation} is not a file")
        try:
            table = load_harmonisation(Path(harmonisation))
        except ConversionError as err:
            fail(str(err))
        if corpus not in table:
            fail(f"--corpus: {corpus!r} is not a row of {harmonisation} (rows: {', '.join(table)})")
        labels = table[corpus]
    try:
        message = check_installed_package([wheel, *library], data_path, expected, output, target, say=typer.echo,
                                          labels=labels)
    except PackageCheckError as err:
        fail(str(err))
    typer.echo(message)
