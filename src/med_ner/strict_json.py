"""JSON as the project reads it from files: an object with a key given twice is
an error (Python's json would keep the last value and lose the first without a
word), and so is nesting deeper than Python's parser goes (about 1,000 levels,
which would otherwise end in a RecursionError)."""
import json
from typing import Any, List, Tuple

class StrictJSONError(ValueError):
    """A message without the location; the caller adds file and line."""


def _no_repeats(pairs: List[Tuple[str, Any]]) -> dict:
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise StrictJSONError(f"key {key!r} appears twice in one object (a JSON reader would keep only the last)")
        seen[key] = value
    return seen


def loads(text: str) -> Any:
    """json.loads, refusing repeated keys and nesting deeper than the parser
    goes (StrictJSONError); bad JSON raises json.JSONDecodeError as usual."""
    try:
        return json.loads(text, object_pairs_hook=_no_repeats)
    except RecursionError:
        raise StrictJSONError("nested deeper than the reader goes (about 1,000 levels of [ and {)") from None
