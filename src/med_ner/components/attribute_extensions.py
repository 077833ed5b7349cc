"""The extensions that carry an entity's linked attributes, one home for the
component that sets them and the outputs that read them.

- `doc.spans["attributes"]`: attribute mentions (ATTRIBUTE_LABELS), their link
  scores optionally in the group's `attrs["scores"]`.
- `Span._.attributes` on each entity of doc.ents: a list of
  `{"type", "text", "start", "end", "score"}` (type: an attribute label, or
  "SITE" for a BODY_PART entity that modifies it; char offsets into doc.text;
  score: the link's probability), None where no component ran.
- `Span._.modifies` on each attribute span and each linked BODY_PART entity:
  the head entity's `{"label", "text", "start", "end", "score"}`, else None.
"""
from spacy.tokens import Span

ATTRIBUTES_KEY = "attributes"
ATTRIBUTE_LABELS = ("LAB_VALUE", "DOSAGE", "ROUTE", "SEVERITY", "FREQUENCY", "DURATION")
SITE = "SITE"
EXTENSIONS = ("attributes", "modifies")


def register_extensions(force: bool = False) -> None:
    """Register Span._.attributes and Span._.modifies (default None). Calling it
    again is harmless; `force` replaces registrations made elsewhere."""
    for name in EXTENSIONS:
        if force or not Span.has_extension(name):
            Span.set_extension(name, default=None, force=force)


register_extensions()
