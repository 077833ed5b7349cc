"""A component that sets what an attribute linker sets (doc.spans["attributes"],
Span._.attributes, Span._.modifies) by fixed rules, so the output paths can be
tested on a real pipeline: the attribute texts in ATTRIBUTES are found in the
text and each is linked to the nearest entity of a head label (imported by
subprocesses via --code)."""
from spacy.language import Language

from med_ner.components.attribute_extensions import ATTRIBUTES_KEY, SITE, register_extensions

register_extensions()

ATTRIBUTES = {"Severe": "SEVERITY", "7.2 g/dL": "LAB_VALUE", "500 mg": "DOSAGE", "orally": "ROUTE",
              "7 days": "DURATION"}
HEADS = {"SEVERITY": {"SYMPTOM", "DISEASE"}, "LAB_VALUE": {"TEST"}, "DOSAGE": {"DRUG"}, "ROUTE": {"DRUG"},
         SITE: {"SYMPTOM", "DISEASE"}}  # DURATION: never linked, so an unlinked attribute is shown too
SCORE = 0.875
SPAN_SCORE = 0.625


def nearest(doc, span, labels):
    heads = [e for e in doc.ents if e.label_ in labels]
    return min(heads, key=lambda e: abs(e.start_char - span.start_char), default=None)


def head_dict(ent) -> dict:
    return {"label": ent.label_, "text": ent.text, "start": ent.start_char, "end": ent.end_char, "score": SCORE}


@Language.component("test_attributes")
def test_attributes(doc):
    spans = []
    for text, label in ATTRIBUTES.items():
        at = doc.text.find(text)
        if at >= 0:
            spans.append(doc.char_span(at, at + len(text), label=label, alignment_mode="expand"))
    spans.sort(key=lambda s: s.start_char)
    doc.spans[ATTRIBUTES_KEY] = spans
    doc.spans[ATTRIBUTES_KEY].attrs["scores"] = [SPAN_SCORE] * len(spans)
    linked = {ent: [] for ent in doc.ents}
    for span in doc.spans[ATTRIBUTES_KEY]:
        head = nearest(doc, span, HEADS.get(span.label_, set()))
        if head is not None:
            span._.modifies = head_dict(head)
            linked[head].append({"type": span.label_, "text": span.text, "start": span.start_char,
                                 "end": span.end_char, "score": SCORE})
    for ent in doc.ents:
        head = nearest(doc, ent, HEADS[SITE]) if ent.label_ == "BODY_PART" else None
        if head is not None:
            ent._.modifies = head_dict(head)
            linked[head].append({"type": SITE, "text": ent.text, "start": ent.start_char, "end": ent.end_char,
                                 "score": SCORE})
    for ent, attributes in linked.items():
        ent._.attributes = sorted(attributes, key=lambda a: a["start"])
    return doc
