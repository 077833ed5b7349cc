"""Add the clinical_context component (negation and uncertainty flags) to a
trained pipeline, fitted on the gold flags of a training DocBin.

It needs none of the NER's weights, so it is fitted in seconds after NER
training instead of inside it; the saved pipeline's config.cfg describes it
like any other component. A corpus without polarity annotations gives a
rules-only component. The saved transformer gets the `cpu_int8` inference
option if it was trained without it.
"""
from pathlib import Path
from typing import Optional


def add_context(model: str, train_path: Path, output: Path, triggers: Optional[Path], window: int,
                use_model: bool) -> dict:
    import spacy
    from spacy.training import Corpus

    from med_ner.pipeline import clinical_context

    nlp = spacy.load(model)
    if "clinical_context" in nlp.pipe_names:
        nlp.remove_pipe("clinical_context")
    component = nlp.add_pipe("clinical_context", config={"window": window, "use_model": use_model})
    triggers = triggers or Path("assets/context") / f"{nlp.lang}.json"
    corpus = Corpus(str(train_path))
    component.initialize(lambda: corpus(nlp), nlp=nlp, triggers=str(triggers))
    nlp.to_disk(output)
    expose_cpu_int8(output)
    annotated = sum(1 for eg in corpus(nlp) if clinical_context.has_gold_flags(eg.reference))
    return {"triggers": str(triggers), "annotated_documents": annotated,
            "classifiers": {flag: {"features": len(m.weights), "threshold": m.threshold}
                            for flag, m in component.models.items()}}


def expose_cpu_int8(path: Path) -> bool:
    """Give a saved pipeline trained with spacy-transformers' TransformerModel.v3
    the architecture with the cpu_int8 option (off), so that
    spacy.load(path, config={"components.transformer.model.cpu_int8": True})
    works on it. The weights and predictions are the same. Returns whether the
    config changed."""
    from spacy.util import load_config

    config = load_config(path / "config.cfg", interpolate=False)
    model = config["components"].get("transformer", {}).get("model", {})
    if model.get("@architectures") != "spacy-transformers.TransformerModel.v3":
        return False
    model["@architectures"] = "en_med_ner.TransformerModel.v1"
    model["cpu_int8"] = False
    config.to_disk(path / "config.cfg")
    return True
