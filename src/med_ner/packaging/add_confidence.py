"""Add the entity_confidence component to a trained pipeline (or refit its
calibration), fitted on a dev DocBin only, and save the pipeline.

The component needs none of the ner's training: it replays the ner's parse
(see med_ner.components.entity_confidence), so fitting takes one prediction
pass over dev. The calibration map is stored in the component's folder and
ships in the wheel.
"""
from pathlib import Path
from typing import Dict, Optional

from med_ner.corpus.reading import ConversionError, read_docbin
from med_ner.evaluation.calibration import METHODS, expected_calibration_error


def add_confidence(model: str, dev_path: Path, output: Path, method: str = "platt",
                   threshold: Optional[float] = None, candidates: Optional[bool] = None) -> Dict:
    """Returns the method, the number of dev entities, and the dev ECE before
    and after calibration (in-sample: the figures of the report are on test)."""
    import spacy
    from spacy.training import Corpus

    from med_ner.components.entity_confidence import check_threshold

    if method not in METHODS:
        raise ValueError(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    if threshold is not None:
        check_threshold(threshold, "--threshold")
    if not read_docbin(Path(dev_path), spacy.blank("xx").vocab):
        raise ConversionError(dev_path, "no documents to fit the calibration on")
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
    examples = list(Corpus(str(dev_path))(nlp))
    raw, correct, labels = component.dev_outcomes(examples)
    if not raw:
        raise ConversionError(dev_path, "the ner predicts no entity on it, so there is nothing to calibrate")
    from med_ner.evaluation.calibration import Calibrator

    component.calibrator = Calibrator.fit(method, raw, correct, labels)
    calibrated = component.calibrator(raw, labels)
    Path(output).mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    return {"method": method, "dev_entities": len(raw), "dev_correct": int(sum(correct)),
            "dev_ece_raw": expected_calibration_error(raw, correct),
            "dev_ece_calibrated": expected_calibration_error(calibrated.tolist(), correct),
            "threshold": component.threshold, "pipe_names": nlp.pipe_names}
