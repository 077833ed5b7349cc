"""The JSON shape of a document's entities, one home for predict, annotate,
the demo, the displaCy views and the HTTP service."""
from typing import Dict, List, Optional


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


def entity_record(ent) -> Dict:
    """{"start", "end", "label", "text"}, then "confidence" where
    entity_confidence ran, "negated"/"uncertain" where clinical_context ran,
    and the link fields (see link_fields)."""
    record = {"start": ent.start_char, "end": ent.end_char, "label": ent.label_, "text": ent.text}
    score = confidence(ent)
    if score is not None:
        record["confidence"] = round(score, 4)
    record.update(context_flags(ent) or {})
    record.update(link_fields(ent))
    return record


def entity_records(doc) -> List[Dict]:
    return [entity_record(ent) for ent in doc.ents]
