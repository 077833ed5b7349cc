"""JSON as the project reads it from files: an object with a key given twice is
an error (Python's json would keep the last value and lose the first without a
word), and so is nesting deeper than Python's parser goes (about 1,000 levels,
which would otherwise end in a RecursionError)."""
import json
import re
from typing import Any, List, Optional, Tuple

MAX_DEPTH = 1000  # about where Python's parser stops


class StrictJSONError(ValueError):
    """A message without the location; the caller adds file and line
    (`line_of` finds it in a text of several lines)."""

    def __init__(self, message: str, key: Optional[str] = None):
        super().__init__(message)
        self.key = key


def _no_repeats(pairs: List[Tuple[str, Any]]) -> dict:
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise StrictJSONError(f"key {key!r} appears twice in one object (a JSON reader would keep only the last)",
                                  key)
        seen[key] = value
    return seen


def loads(text: str) -> Any:
    """json.loads, refusing repeated keys and nesting deeper than the parser
    goes (StrictJSONError); bad JSON raises json.JSONDecodeError as usual."""
    try:
        return json.loads(text, object_pairs_hook=_no_repeats)
    except RecursionError:
        raise StrictJSONError("nested deeper than the reader goes (about 1,000 levels of [ and {)") from None


def line_of(text: str, err: StrictJSONError) -> Optional[int]:
    """The line of `text` where `err` is: the second time its key is written
    (as json.dumps writes it), or where the nesting gets deeper than MAX_DEPTH."""
    if err.key is not None:
        keys = [m.start() for m in re.finditer(re.escape(json.dumps(err.key)) + r"\s*:", text)]
        return text.count("\n", 0, keys[1]) + 1 if len(keys) > 1 else None
    depth, in_string, escaped = 0, False, False
    for i, char in enumerate(text):
        if in_string:
            escaped, in_string = (not escaped and char == "\\"), in_string and (escaped or char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return text.count("\n", 0, i) + 1
        elif char in "]}":
            depth -= 1
    return None
