"""Teaches schemathesis the schema's `x-unique-item-properties` (JSON Schema has
no keyword for "unique by property"): generated documents repeat no id."""
import schemathesis


@schemathesis.hook
def filter_body(context, body) -> bool:
    documents = body.get("documents") if isinstance(body, dict) else None
    if not isinstance(documents, list):
        return True
    ids = [(type(d["id"]).__name__, d["id"]) for d in documents
           if isinstance(d, dict) and isinstance(d.get("id"), (str, int))]
    return len(ids) == len(set(ids))
