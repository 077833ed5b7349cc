"""`calibrate`: add entity_confidence to a pipeline, calibrated on dev (a DocBin or a corpus mix's dev splits)."""
from pathlib import Path
from typing import Optional

import typer

from med_ner.cli.app import app, check_paths, fail
from med_ner.corpus.reading import ConversionError
from med_ner.evaluation.calibration import DEFAULT_FOLDS
from med_ner.packaging.add_confidence import DEFAULT_HARMONISATION, add_confidence


@app.command("calibrate")
def calibrate_command(
    model: str = typer.Argument(..., help="Trained pipeline directory or installed package"),
    dev_path: Optional[Path] = typer.Argument(None, help="Dev DocBin the calibration is fitted on (never test); "
                                              "or give --mix-config", dir_okay=False),
    output: Path = typer.Option(..., "--output", help="Directory to save the pipeline with entity_confidence to"),
    method: str = typer.Option("platt", "--method", help="platt (logistic on the logit of the raw score), "
                               "platt-label (one per label; labels with few dev entities use the global fit), "
                               "isotonic, identity (raw scores), or auto (the lowest cross-validated dev ECE of "
                               "platt, platt-label and isotonic)"),
    folds: int = typer.Option(DEFAULT_FOLDS, "--folds", help="Folds over dev documents for the cross-validated "
                              "ECE of each map (recorded with the calibration; auto chooses by it)"),
    mix_config: Optional[Path] = typer.Option(None, "--mix-config", exists=True, dir_okay=False,
                                              help="Or: fit on the dev splits of this mix config's corpora, each "
                                              "corpus counting only the labels it annotates"),
    corpus_dir: Path = typer.Option(Path("corpus"), "--corpus-dir", help="With --mix-config: holds "
                                    "<corpus>/dev.spacy"),
    harmonisation: Path = typer.Option(DEFAULT_HARMONISATION, "--harmonisation",
                                       help="With --mix-config: the label harmonisation table"),
    balance_corpora: bool = typer.Option(False, "--balance-corpora", help="With --mix-config: each corpus weighs "
                                         "the same in the fit (else each dev entity does)"),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Drop entities below this confidence "
                                              "(default: keep the component's, else 0.0: keep all)"),
    candidates: Optional[bool] = typer.Option(None, "--candidates/--no-candidates",
                                              help="Keep dropped and runner-up spans in doc.spans['ner_candidates']"),
):
    """Add entity_confidence (ent._.confidence on every entity) after the ner, or refit its calibration."""
    if (dev_path is None) == (mix_config is None):
        fail("give either DEV (a dev DocBin) or --mix-config (a corpus mix's dev splits), not both or neither")
    if dev_path is not None and not dev_path.exists():
        fail(f"{dev_path}: not found")
    if mix_config is not None and not harmonisation.is_file():
        fail(f"--harmonisation {harmonisation}: not found")
    check_paths([], [("model", Path(model)), ("dev data", dev_path), ("--mix-config", mix_config),
                     ("--corpus-dir", corpus_dir if mix_config is not None else None)],
                folders=[("--output", output)])
    from med_ner.training.mix import MixError

    try:
        info = add_confidence(model, dev_path, output, method, threshold, candidates, mix_config=mix_config,
                              corpus_dir=corpus_dir, harmonisation=harmonisation, folds=folds,
                              balance_corpora=balance_corpora)
    except (ValueError, ConversionError, MixError) as err:
        fail(str(err))
    chosen = info["method"] if info["requested"] != "auto" else f"{info['method']} (chosen by auto)"
    typer.echo(f"wrote {output}: {chosen} calibration on {info['dev_entities']} dev entities "
               f"(dev ECE {info['dev_ece_raw']:.4f} raw, {info['dev_ece_calibrated']:.4f} calibrated), "
               f"threshold {info['threshold']}")
    cv = {m: e for m, e in info["cv_ece"].items() if e is not None}
    if cv:
        typer.echo(f"{info['folds']}-fold cross-validated dev ECE: " + ", ".join(f"{m} {e:.4f}" for m, e in cv.items()))
    for corpus, row in (info.get("corpora") or {}).items():
        if row["dev_entities"]:
            typer.echo(f"  {corpus}: {row['dev_entities']} dev entities of its annotated labels, dev ECE "
                       f"{row['dev_ece_raw']:.4f} raw, {row['dev_ece_calibrated']:.4f} calibrated")
        else:
            typer.echo(f"  {corpus}: no predicted entity of its annotated labels")
