"""Add the entity_confidence component to a trained pipeline (or refit its
calibration), fitted on dev only, and save the pipeline.

The dev data is a DocBin, or the dev splits of a corpus mix (the corpora of a
mix config, labels mapped through the harmonisation table, as `evaluate mix`
reads them): there a predicted entity counts only where its corpus annotates
its label, as the mix scorer counts it.

The component needs none of the ner's training: it replays the ner's parse
(see med_ner.components.entity_confidence), so fitting takes one prediction
pass over dev. The calibration map, with how it was fitted and chosen, is
stored in the component's folder and the pipeline's meta, and ships in the wheel.
"""
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

from med_ner.corpus.reading import ConversionError, read_docbin
from med_ner.evaluation.calibration import DEFAULT_FOLDS, METHODS, expected_calibration_error, fit_calibration

DEFAULT_HARMONISATION = Path("configs/label_harmonisation.yml")


def add_confidence(model: str, dev_path: Optional[Path], output: Path, method: str = "platt",
                   threshold: Optional[float] = None, candidates: Optional[bool] = None, *,
                   mix_config: Optional[Path] = None, corpus_dir: Path = Path("corpus"),
                   harmonisation: Path = DEFAULT_HARMONISATION, folds: int = DEFAULT_FOLDS,
                   balance_corpora: bool = False) -> Dict:
    """Returns the calibration's info (the method requested and used, the CV
    ECE of each map, the number of dev entities, and the dev ECE before and
    after calibration, in-sample: the figures of the report are on test), per
    corpus for a mix, with the threshold and the pipe names."""
    import spacy
    from spacy.training import Corpus

    from med_ner.components.entity_confidence import check_threshold

    if (dev_path is None) == (mix_config is None):
        raise ValueError("give either DEV (a dev DocBin) or --mix-config (a corpus mix's dev splits)")
    if method not in METHODS and method != "auto":
        raise ValueError(f"--method: {method!r} is not one of {', '.join(METHODS + ('auto',))}")
    if folds < 2:
        raise ValueError(f"--folds: {folds} is fewer than 2")
    if threshold is not None:
        check_threshold(threshold, "--threshold")
    union = None
    if mix_config is not None:
        from med_ner.training.mix import CorpusUnion, mix_corpora

        corpora = mix_corpora(mix_config)
        union = CorpusUnion(corpus_dir, "dev", corpora, harmonisation)
        source = f"the dev splits of {', '.join(corpora)} ({mix_config})"
    else:
        if not read_docbin(Path(dev_path), spacy.blank("xx").vocab):
            raise ConversionError(dev_path, "no documents to fit the calibration on")
        source = str(dev_path)
    nlp = spacy.load(model)
    if "ner" not in nlp.pipe_names:
        raise ValueError(f"{model}: the pipeline has no `ner` component to score")
    config = {}
    if "entity_confidence" in nlp.pipe_names:
        old = nlp.get_pipe("entity_confidence")
        config = {"threshold": old.threshold, "candidates": old.candidates}
        nlp.remove_pipe("entity_confidence")
    if threshold is not None:
        config["threshold"] = threshold
    if candidates is not None:
        config["candidates"] = candidates
    # Right after the ner: the replay reads the ner's own entities, and the
    # later components see only those above the threshold.
    component = nlp.add_pipe("entity_confidence", after="ner", config=config)
    examples = list(union(nlp) if union is not None else Corpus(str(dev_path))(nlp))
    if not examples:
        raise ValueError(f"{source}: no documents to fit the calibration on")
    table = component.dev_outcome_table(examples)
    if not table["raw"]:
        what = source if union is not None else dev_path
        message = "the ner predicts no entity on it, so there is nothing to calibrate"
        if union is not None:
            raise ValueError(f"{what}: {message} (counting each corpus's annotated labels only)")
        raise ConversionError(what, message)
    weights = None
    if balance_corpora:
        if union is None:
            raise ValueError("--balance-corpora needs --mix-config (the dev splits of several corpora)")
        # Each corpus weighs the same in the fit, whatever its number of dev entities.
        sizes = Counter(table["corpora"])
        weights = [len(table["raw"]) / (len(sizes) * sizes[corpus]) for corpus in table["corpora"]]
    calibrator = fit_calibration(method, table["raw"], table["correct"], table["labels"], table["docs"], folds,
                                 weights=weights)
    calibrator.info["weights"] = "each corpus equal" if balance_corpora else "each entity equal"
    calibrator.info["dev"] = source
    calibrator.info["dev_documents_total"] = len(examples)
    if union is not None:
        calibrator.info["restricted_to_annotated"] = True
        calibrator.info["corpora"] = per_corpus(calibrator, table, union.names)
    component.calibrator = calibrator
    nlp.meta["entity_confidence"] = {"calibration": calibrator.to_dict()["info"], "method": calibrator.method,
                                     "threshold": component.threshold}
    from med_ner.outputs import atomic_dir

    with atomic_dir(output, "output pipeline") as tmp:  # the whole folder, or the old one
        nlp.to_disk(tmp)
    return {**calibrator.info, "threshold": component.threshold, "pipe_names": nlp.pipe_names}


def per_corpus(calibrator, table: Dict[str, List], names: List[str]) -> Dict[str, Dict]:
    """Each corpus's dev entities, and its dev ECE before and after the (shared) map (None without entities)."""
    rows = {name: {"raw": [], "correct": [], "labels": []} for name in names}
    for raw, correct, label, corpus in zip(table["raw"], table["correct"], table["labels"], table["corpora"]):
        row = rows[corpus]
        row["raw"].append(raw)
        row["correct"].append(correct)
        row["labels"].append(label)
    return {corpus: {"dev_entities": len(row["raw"]), "dev_correct": int(sum(row["correct"])),
                     "dev_ece_raw": expected_calibration_error(row["raw"], row["correct"]),
                     "dev_ece_calibrated": expected_calibration_error(
                         calibrator(row["raw"], row["labels"]).tolist(), row["correct"])}
            for corpus, row in rows.items()}
