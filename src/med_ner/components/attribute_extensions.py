"""Span extensions of the attribute components, registered in one place."""
from spacy.tokens import Span


def register_extensions() -> None:
    """ent._.attributes: the attributes linked to an entity; span._.modifies: the
    head entity of an attribute span (or of a BODY_PART that modifies one)."""
    for name in ("attributes", "modifies"):
        if not Span.has_extension(name):
            Span.set_extension(name, default=None)
