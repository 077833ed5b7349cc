"""Training commands: `train` (spacy train, offline) and `add-context`."""
from pathlib import Path
from typing import Optional

import typer

from med_ner.cli.app import app, check_paths, fail
from med_ner.packaging.add_context import add_context
from med_ner.training.train import TrainingError, read_budget, train


@app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_command(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., help="Pipeline config", exists=True, dir_okay=False),
    output_path: Path = typer.Option(..., "--output", "-o", help="Directory for model-best and model-last"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
    online: bool = typer.Option(False, "--online", help="Allow downloads from the Hugging Face hub"),
    budget: Optional[str] = typer.Option(None, "--budget", help="A named training budget of --budgets (max_steps, "
                                         "warmup_steps, eval_frequency); explicit overrides still win"),
    budgets: Optional[Path] = typer.Option(None, "--budgets", help="Budgets table (YAML), for --budget"),
):
    """Train; extra --section.key value options override the config, as in `spacy train`."""
    if (budget is None) != (budgets is None):
        fail("--budget and --budgets go together")
    from spacy.cli._util import parse_config_overrides

    try:
        overrides = read_budget(budgets, budget) if budget else {}
        overrides.update(parse_config_overrides(ctx.args))
        train(config_path, output_path, overrides, gpu_id=gpu_id, online=online,
              say=lambda line: typer.echo(line, err=line.startswith("note:")))
    except TrainingError as err:
        fail(str(err))


@app.command("add-context")
def add_context_command(
    model: str = typer.Argument(..., help="Trained pipeline (directory or package)"),
    train_path: Path = typer.Argument(..., help="Training DocBin; BRAT POLARITY attributes give the gold flags", exists=True),
    output: Path = typer.Argument(..., help="Directory for the pipeline with clinical_context"),
    triggers: Optional[Path] = typer.Option(None, "--triggers", help="Trigger JSON (default: the shipped triggers of the pipeline's language)", exists=True),
    window: int = typer.Option(8, "--window", help="Scope of a trigger, in tokens"),
    use_model: bool = typer.Option(True, "--model/--rules-only", help="Fit classifiers where gold flags exist"),
    inference: Optional[str] = typer.Option(None, "--inference", help="CPU prediction runtime written into the saved "
                                            "config: float32, int8, bf16, onnx or onnx-int8 (default: onnx-int8)"),
    inference_window: Optional[int] = typer.Option(None, "--inference-window", min=0,
                                                   help="Predict over non-overlapping windows of this many tokens "
                                                        "(default 0: the config's strided windows)"),
    terms: str = typer.Option("", "--terms", help="The vocab step's terms.jsonl: also add terminology_matcher + "
                              "terminology_linker, so entities get vocabulary ids (empty: no linking)"),
    attributes: str = typer.Option("", "--attributes", help="A pipeline trained with configs/attributes.cfg: also "
                                   "add its attribute_spans and an attribute_linker fitted on the training data's "
                                   "gold links (empty: none)"),
    analytes: str = typer.Option("", "--analytes", help="Analyte list (one name a line): also add analyte_labels, "
                                 "which makes a DRUG that names an analyte in a lab-result sentence a TEST (empty: "
                                 "none)"),
):
    """Fit clinical_context on a training corpus and save the extended pipeline."""
    from med_ner.inference.runtimes import unknown_runtime

    if inference is not None and unknown_runtime(inference):
        fail(f"--inference: {unknown_runtime(inference)}")
    terms_path = Path(terms) if terms else None
    if terms_path is not None and not terms_path.is_file():
        fail(f"--terms: {terms_path} is not a file (run `med-ner vocab --output {terms_path.parent}`)")
    attributes_path = Path(attributes) if attributes else None
    analytes_path = Path(analytes) if analytes else None
    if analytes_path is not None and not analytes_path.is_file():
        fail(f"--analytes: {analytes_path} is not a file")
    check_paths([], [("model", Path(model)), ("training data", train_path), ("--triggers", triggers),
                     ("--terms", terms_path), ("--attributes", attributes_path)], folders=[("output", output)])
    from med_ner.outputs import OutputError

    try:
        info = add_context(model, train_path, output, triggers, window, use_model, inference, inference_window,
                           terms_path, attributes or None, analytes_path)
    except (OutputError, ValueError, OSError) as err:
        fail(str(err))
    fitted = ", ".join(f"{k}: {v['features']} features, threshold {v['threshold']}" for k, v in info["classifiers"].items())
    typer.echo(f"clinical_context from {info['triggers']}; {info['annotated_documents']} training documents with "
               f"polarity annotation; classifiers: {fitted or 'none (rules only)'}; CPU inference: "
               f"{info['inference'] or 'n/a (no transformer)'}; linking: {'on' if info['linking'] else 'off'}; attribute links: "
               f"{info['attribute_links'] or 'none'}; analyte labels: {info['analytes'] or 'off'}; saved to {output}")
