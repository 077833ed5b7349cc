"""The JSON shape of a document's entities, one home for predict, annotate,
the demo, the displaCy views and the HTTP service."""
from typing import Dict, List, Optional


def context_flags(ent) -> Optional[Dict[str, bool]]:
    """Negation/uncertainty flags if the pipeline's clinical_context set them."""
    if not ent.has_extension("context_cues") or ent._.context_cues is None:
        return None
    return {"negated": ent._.is_negated, "uncertain": ent._.is_uncertain}


def entity_record(ent) -> Dict:
    """{"start", "end", "label", "text"}, then "negated"/"uncertain" where
    clinical_context ran, and "id" where a component linked the entity."""
    record = {"start": ent.start_char, "end": ent.end_char, "label": ent.label_, "text": ent.text}
    record.update(context_flags(ent) or {})
    if ent.kb_id_:
        record["id"] = ent.kb_id_
    return record


def entity_records(doc) -> List[Dict]:
    return [entity_record(ent) for ent in doc.ents]
