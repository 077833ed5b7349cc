"""spaCy's NER trains on missing annotation without penalty, as the mix reader
sets it outside the entities of a partially annotated corpus."""
import random

import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example

from med_ner.training.harmonise import CorpusLabels, harmonise_doc

RELEASE = ["DISEASE", "SYMPTOM", "DRUG", "BODY_PART", "TEST", "PROCEDURE"]
FULL = CorpusLabels("full", RELEASE, RELEASE, {})
DRUG_ONLY = CorpusLabels("drug_only", ["DRUG"], RELEASE, {})


def reference(nlp, words, ents, labels, outside):
    doc = Doc(nlp.vocab, words=words)
    doc.set_ents([Span(doc, s, e, label=label) for s, e, label in ents], default="outside")
    return harmonise_doc(doc, labels, outside)


def make_nlp():
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("ner")
    for label in RELEASE:
        ner.add_label(label)
    return nlp


def test_no_loss_where_the_annotation_is_missing():
    nlp = make_nlp()
    nlp.initialize()
    words = ["fever", "after", "aspirin", "dose"]

    def loss(outside, ents):
        losses = {}
        eg = Example(Doc(nlp.vocab, words=words), reference(nlp, words, ents, DRUG_ONLY, outside))
        nlp.get_pipe("ner").update([eg], drop=0.0, sgd=None, losses=losses)
        return losses["ner"]

    assert loss("missing", []) == 0.0
    assert loss("O", []) > 0.0
    assert 0.0 < loss("missing", [(2, 3, "DRUG")]) < loss("O", [(2, 3, "DRUG")])


def test_missing_outside_does_not_teach_o_for_unannotated_labels():
    """A fully annotated corpus teaches "fever" SYMPTOM; a drug-only corpus
    three times as large has "fever" unannotated. With "O" outside its
    entities, the drug-only corpus teaches that fever is no entity; with
    missing, it does not, and the model keeps tagging fever."""
    def full_doc(nlp, i):
        words = [["she", "he", "patient"][i % 3], ["had", "reported"][i % 2], "fever", ["today", "again"][i % 2]]
        return reference(nlp, words, [(2, 3, "SYMPTOM")], FULL, None)

    def drug_doc(nlp, i, outside):
        words = ["fever", "after", ["aspirin", "ibuprofen", "paracetamol"][i % 3], ["dose", "tablets"][i % 2]]
        return reference(nlp, words, [(2, 3, "DRUG")], DRUG_ONLY, outside)

    def fever_recall(outside):
        random.seed(0)
        nlp = make_nlp()
        refs = [full_doc(nlp, i) for i in range(8)] + [drug_doc(nlp, i, outside) for i in range(24)]
        examples = [Example(Doc(nlp.vocab, words=[t.text for t in r]), r) for r in refs]
        optimizer = nlp.initialize(lambda: examples)
        for _ in range(20):
            random.shuffle(examples)
            for start in range(0, len(examples), 8):
                nlp.update(examples[start:start + 8], sgd=optimizer, drop=0.1)
        tests = [nlp(Doc(nlp.vocab, words=["fever", "after", drug, "dose"]))
                 for drug in ("aspirin", "ibuprofen", "paracetamol")]
        found = [any(e.text == "fever" and e.label_ == "SYMPTOM" for e in doc.ents) for doc in tests]
        drugs = [any(e.label_ == "DRUG" for e in doc.ents) for doc in tests]
        assert all(drugs), "both models learn the drug-only corpus's own label"
        return sum(found) / len(found)

    assert fever_recall("missing") == 1.0
    assert fever_recall("O") == 0.0
