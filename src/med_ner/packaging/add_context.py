"""Add the clinical_context component (negation and uncertainty flags) to a
trained pipeline, fitted on the gold flags of a training DocBin.

It needs none of the NER's weights, so it is fitted in seconds after NER
training instead of inside it; the saved pipeline's config.cfg describes it
like any other component. split_tokens (first) and trim_entities (after the
entity setters) come with it, so no entity starts or ends on an invisible
character and an over-long token cannot cut off the text after it. A corpus without polarity annotations gives a
rules-only component. The saved transformer gets the CPU prediction runtime
(`inference`, `inference_spans`; RELEASE_INFERENCE unless told otherwise),
which never changes its weights or training.
"""
from pathlib import Path
from typing import Optional


def add_context(model: str, train_path: Path, output: Path, triggers: Optional[Path], window: int,
                use_model: bool, inference: Optional[str] = None, inference_window: Optional[int] = None,
                terms: Optional[Path] = None, attributes: Optional[str] = None,
                analytes: Optional[Path] = None) -> dict:
    """`terms` (the `vocab` step's terms.jsonl) also adds terminology_matcher and
    terminology_linker last, so the pipeline links entities offline (ent.kb_id_).
    `attributes` (a pipeline trained with configs/attributes.cfg on this
    pipeline's transformer) adds its attribute_spans, attribute_rules and an
    attribute_linker fitted on the training DocBin's gold links, last. `analytes` (a list file) adds analyte_labels after
    trim_entities: a DRUG that names an analyte in a lab-result sentence is a TEST."""
    import spacy
    from spacy.training import Corpus

    from med_ner.components import clinical_context

    from med_ner.components.entity_edges import add_edge_components

    nlp = spacy.load(model)
    if "clinical_context" in nlp.pipe_names:
        nlp.remove_pipe("clinical_context")
    add_edge_components(nlp)
    if analytes is not None:
        add_analyte_labels(nlp, Path(analytes))
    component = nlp.add_pipe("clinical_context", config={"window": window, "use_model": use_model})
    triggers = triggers or clinical_context.default_triggers(nlp.lang)
    corpus = Corpus(str(train_path))
    component.initialize(lambda: corpus(nlp), nlp=nlp, triggers=str(triggers))
    if terms is not None:
        add_linking(nlp, Path(terms))
    linker = add_attributes(nlp, attributes, corpus) if attributes else None
    from med_ner.outputs import atomic_dir

    with atomic_dir(output, "output pipeline") as tmp:  # the whole folder, or the old one
        nlp.to_disk(tmp)
        runtime = set_prediction_runtime(tmp, inference, inference_window)
    annotated = sum(1 for eg in corpus(nlp) if clinical_context.has_gold_flags(eg.reference))
    return {"triggers": str(triggers), "annotated_documents": annotated, "inference": runtime,
            "linking": terms is not None, "analytes": str(analytes) if analytes else None,
            "attribute_links": {kind: heads for kind, heads in linker.compatible.items()} if linker else None,
            "classifiers": {flag: {"features": len(m.weights), "threshold": m.threshold}
                            for flag, m in component.models.items()}}


def set_prediction_runtime(path: Path, inference: Optional[str] = None, window: Optional[int] = None) -> Optional[str]:
    """Write the transformer's CPU prediction runtime into a saved pipeline's
    config: `inference` (default RELEASE_INFERENCE), over non-overlapping windows
    of `window` tokens (default RELEASE_INFERENCE_WINDOW; 0 keeps the config's
    own strided spans). A TransformerModel.v3 becomes en_med_ner.TransformerModel.v1,
    whose arguments extend it, so the weights and training are unchanged.
    Returns the runtime, or None for a pipeline without a transformer."""
    from spacy.util import load_config

    from med_ner.inference.transformer import RELEASE_INFERENCE, RELEASE_INFERENCE_WINDOW, inference_config

    inference = RELEASE_INFERENCE if inference is None else inference
    window = RELEASE_INFERENCE_WINDOW if window is None else window
    overrides = inference_config(inference, window)  # validates the runtime
    config = load_config(path / "config.cfg", interpolate=False)
    model = config["components"].get("transformer", {}).get("model", {})
    if model.get("@architectures") not in ("spacy-transformers.TransformerModel.v3", "en_med_ner.TransformerModel.v1"):
        return None
    for key, value in overrides.items():
        *sections, name = key.split(".")
        section = config
        for part in sections:
            section = section[part]
        section[name] = value
    config.to_disk(path / "config.cfg")
    return inference


def add_analyte_labels(nlp, analytes: Path) -> None:
    if "analyte_labels" in nlp.pipe_names:
        nlp.remove_pipe("analyte_labels")
    where = {"after": "trim_entities"} if "trim_entities" in nlp.pipe_names else {"last": True}
    nlp.add_pipe("analyte_labels", **where).initialize(nlp=nlp, analytes=str(analytes))


def add_attributes(nlp, attributes: str, corpus):
    """attribute_spans from the `attributes` pipeline and attribute_linker, fitted on `corpus`, last."""
    import spacy

    source = spacy.load(attributes)
    if "attribute_spans" not in source.pipe_names:
        raise ValueError(f"{attributes}: no attribute_spans component (train it with configs/attributes.cfg)")
    check_listened_transformer(nlp, source, attributes)
    for name in ("attribute_spans", "attribute_rules", "attribute_linker"):
        if name in nlp.pipe_names:
            nlp.remove_pipe(name)
    # A listening attribute_spans is linked to this pipeline's transformer here.
    nlp.add_pipe("attribute_spans", source=source, last=True)
    # Fixed-form doses, routes, frequencies and durations the span model misses.
    nlp.add_pipe("attribute_rules", last=True).initialize(nlp=nlp)
    linker = nlp.add_pipe("attribute_linker", last=True)
    linker.initialize(lambda: corpus(nlp), nlp=nlp)
    return linker


def check_listened_transformer(nlp, source, attributes: str) -> None:
    """An attribute_spans that listens to its pipeline's transformer (trained with
    `--paths.release_model`) reads the features of the transformer it was trained
    on: this pipeline's, weight for weight, or it would score spans from features
    it never saw."""
    if "transformer" not in source.pipe_names or \
            "attribute_spans" not in source.get_pipe("transformer").listening_components:
        return
    if "transformer" not in nlp.pipe_names or not same_weights(nlp.get_pipe("transformer").model,
                                                             source.get_pipe("transformer").model):
        raise ValueError(f"{attributes}: its attribute_spans listens to a transformer other than this pipeline's "
                         "(train it with configs/attributes.cfg and --paths.release_model set to this pipeline)")


def same_weights(model, other) -> bool:
    """Whether two transformer models hold the same weights (their serialised
    bytes can differ for the same weights)."""
    import torch

    def state(m):
        return [s._model.state_dict() for node in m.walk() for s in node.shims]

    mine, theirs = state(model), state(other)
    return len(mine) == len(theirs) and all(
        a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a) for a, b in zip(mine, theirs))


def add_linking(nlp, terms: Path) -> None:
    """terminology_linker last, reading terminology_matcher's table. A matcher
    before the NER (a config whose NER reads the term tags) stays where it is,
    with the table it was trained with; otherwise the matcher goes last too,
    its table read from `terms`."""
    names = nlp.pipe_names
    feeds_ner = "terminology_matcher" in names and "ner" in names and names.index("terminology_matcher") < names.index("ner")
    if "terminology_linker" in names:
        nlp.remove_pipe("terminology_linker")
    if not feeds_ner:
        if "terminology_matcher" in nlp.pipe_names:
            nlp.remove_pipe("terminology_matcher")
        nlp.add_pipe("terminology_matcher", last=True).initialize(nlp=nlp, terms_path=terms)
    nlp.add_pipe("terminology_linker", last=True, config={"matcher": "terminology_matcher"})
