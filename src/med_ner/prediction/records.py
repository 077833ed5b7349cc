"""The JSON shape of a document's entities (and their linked attributes), one
home for predict, annotate, the demo, the displaCy views and the HTTP service."""
from typing import Dict, List, Optional

from med_ner.components.attribute_extensions import ATTRIBUTES_KEY


def context_flags(ent) -> Optional[Dict[str, bool]]:
    """Negation/uncertainty flags if the pipeline's clinical_context set them."""
    if not ent.has_extension("context_cues") or ent._.context_cues is None:
        return None
    return {"negated": ent._.is_negated, "uncertain": ent._.is_uncertain}


def link_fields(ent) -> Dict:
    """"id" and "name" where a component linked the entity (terminology_linker sets
    ent._.canonical_name), "candidates" (ids) where its vocabulary match was ambiguous."""
    fields = {}
    if ent.kb_id_:
        fields["id"] = ent.kb_id_
    if ent.has_extension("canonical_name") and ent._.canonical_name:
        fields["name"] = ent._.canonical_name
    if ent.has_extension("kb_ambiguous") and ent._.kb_ambiguous:
        fields["candidates"] = [c["id"] for c in ent._.kb_candidates]
    return fields


def confidence(ent) -> Optional[float]:
    """The entity's calibrated confidence where entity_confidence ran, else None."""
    if not ent.has_extension("confidence") or ent._.confidence is None:
        return None
    return float(ent._.confidence)


def linked_attributes(ent) -> Optional[List[Dict]]:
    """The entity's attributes ({"type", "text", "start", "end", "score"}, score
    rounded) where an attribute linker set ent._.attributes, else None."""
    if not ent.has_extension("attributes") or ent._.attributes is None:
        return None
    return [{"type": a["type"], "text": a["text"], "start": int(a["start"]), "end": int(a["end"]),
             "score": round(float(a["score"]), 4)} for a in ent._.attributes]


def attribute_name(type_: str) -> str:
    """"LAB_VALUE" -> "Lab value": an attribute type as the text outputs show it."""
    return type_.replace("_", " ").capitalize()


def attribute_records(doc) -> Optional[List[Dict]]:
    """Every span of doc.spans["attributes"], linked or not: {"start", "end",
    "label", "text"}, "score" where the group has attrs["scores"], and "head"
    (the head entity's {"start", "end", "label"}, or None). None where the
    pipeline made no attribute spans."""
    if ATTRIBUTES_KEY not in doc.spans:
        return None
    group = doc.spans[ATTRIBUTES_KEY]
    scores = group.attrs.get("scores")
    records = []
    for i, span in enumerate(group):
        record = {"start": span.start_char, "end": span.end_char, "label": span.label_, "text": span.text}
        if scores is not None and i < len(scores):
            record["score"] = round(float(scores[i]), 4)
        head = span._.modifies if span.has_extension("modifies") else None
        record["head"] = None if head is None else {"start": int(head["start"]), "end": int(head["end"]),
                                                     "label": head["label"]}
        records.append(record)
    return records


def entity_record(ent) -> Dict:
    """{"start", "end", "label", "text"}, then "confidence" where
    entity_confidence ran, "negated"/"uncertain" where clinical_context ran,
    the link fields (see link_fields), and "attributes" where an attribute
    linker ran (see linked_attributes)."""
    record = {"start": ent.start_char, "end": ent.end_char, "label": ent.label_, "text": ent.text}
    score = confidence(ent)
    if score is not None:
        record["confidence"] = round(score, 4)
    record.update(context_flags(ent) or {})
    record.update(link_fields(ent))
    attributes = linked_attributes(ent)
    if attributes is not None:
        record["attributes"] = attributes
    return record


def entity_records(doc) -> List[Dict]:
    return [entity_record(ent) for ent in doc.ents]


def document_record(doc, entities_key: str = "ents") -> Dict:
    """{entities_key: the entity records}, and "attributes" (attribute_records)
    only where the pipeline made attribute spans, so other outputs keep their shape."""
    record = {entities_key: entity_records(doc)}
    attributes = attribute_records(doc)
    if attributes is not None:
        record["attributes"] = attributes
    return record
