"""NER scores over a union of corpora that annotate different labels.

A reference doc that the mix readers marked with its annotated labels
(doc.user_data["med_ner.annotates"]) is scored on those labels only: a
predicted entity of another label is dropped before scoring, since that
corpus cannot say whether it is right. Everything else is spaCy's NER
scorer. Besides the overall scores, each corpus gets flat keys
`<corpus>_ents_p/_r/_f`, which the training log records per evaluation.
"""
from collections import defaultdict
from typing import Dict, Iterable, List

from spacy.scorer import get_ner_prf
from spacy.tokens import Span
from spacy.training import Example
from spacy.util import registry

from med_ner.training.harmonise import ANNOTATES_KEY, CORPUS_KEY


def restrict_to_annotated(example: Example) -> Example:
    """The example with predictions limited to the labels its corpus annotates."""
    labels = example.reference.user_data.get(ANNOTATES_KEY)
    if labels is None or all(ent.label_ in labels for ent in example.predicted.ents):
        return example
    predicted = example.predicted.copy()
    predicted.set_ents([Span(predicted, e.start, e.end, label=e.label_) for e in example.predicted.ents
                        if e.label_ in labels], default="outside")
    return Example(predicted, example.reference)


def score_annotated_labels(examples: Iterable[Example], **kwargs) -> Dict:
    restricted: List[Example] = [restrict_to_annotated(eg) for eg in examples]
    scores = get_ner_prf(restricted, **kwargs)
    by_corpus = defaultdict(list)
    for eg in restricted:
        corpus = eg.reference.user_data.get(CORPUS_KEY)
        if corpus is not None:
            by_corpus[corpus].append(eg)
    for corpus, group in by_corpus.items():
        corpus_scores = get_ner_prf(group, **kwargs)
        for key in ("ents_p", "ents_r", "ents_f"):
            scores[f"{corpus}_{key}"] = corpus_scores[key]
    return scores


@registry.scorers("en_med_ner.annotated_labels_ner_scorer.v1")
def make_annotated_labels_ner_scorer():
    return score_annotated_labels
