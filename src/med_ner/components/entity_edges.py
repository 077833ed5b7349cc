"""Token and entity edges that every consumer of doc.ents can rely on.

- `split_tokens` (first in the pipeline): a token longer than `max_chars`
  (a pasted hash, base64, a run of characters without spaces) is split into
  pieces of `piece_chars` characters, so one token cannot fill the
  transformer's window of 512 word pieces and cut off the text after it
  (128 tokens of 3 characters stay under 512 pieces), and where the split
  token was is recorded in `doc.user_data["split_tokens"]`; invisible characters
  (zero-width joiner and space, variation selectors, BOM, soft hyphen, other
  format characters and whitespace) at the edges of a token become tokens of
  their own.
- `trim_entities` (after the ner, and after entity_confidence where the
  pipeline has it): an entity never starts or ends on a token of whitespace or
  invisible characters, and an entity that runs from the pieces of a split
  token into the text around it keeps only its longest part outside them; an
  entity of only such tokens is dropped. Its confidence moves with it, and so
  do the candidates' spans.
"""
import unicodedata
from typing import List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup

# doc.user_data key: [start_char, end_char] of each over-long token split in pieces.
SPLIT_KEY = "split_tokens"
# Default-ignorable characters that are not format characters (Cf).
IGNORABLE = {"\u034f", "\u115f", "\u1160", "\u17b4", "\u17b5", "\u3164", "\uffa0"}


def invisible(char: str) -> bool:
    """Whitespace, control and format characters, variation selectors and the
    other default-ignorable code points: nothing a reader sees."""
    if char.isspace() or char in IGNORABLE:
        return True
    if unicodedata.category(char) in ("Cc", "Cf"):
        return True
    code = ord(char)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF or 0x180B <= code <= 0x180F


def blank(text: str) -> bool:
    return all(invisible(char) for char in text)


def pieces(text: str, max_chars: int, piece_chars: int) -> List[str]:
    """A token's text as the tokens it becomes: invisible edges apart, then a
    core longer than max_chars in pieces of piece_chars characters."""
    if blank(text):
        return [text]
    start, end = 0, len(text)
    while invisible(text[start]):
        start += 1
    while invisible(text[end - 1]):
        end -= 1
    core = text[start:end]
    if len(core) > max_chars:
        core_pieces = [core[i:i + piece_chars] for i in range(0, len(core), piece_chars)]
    else:
        core_pieces = [core]
    return [p for p in (text[:start], *core_pieces, text[end:]) if p]


class TokenSplitter:
    def __init__(self, name: str, max_chars: int, piece_chars: int):
        if not 1 <= piece_chars <= max_chars:
            raise ValueError(f"[components.{name}]: piece_chars must be 1..max_chars ({max_chars}), "
                             f"not {piece_chars}")
        self.name = name
        self.max_chars = max_chars
        self.piece_chars = piece_chars

    def __call__(self, doc: Doc) -> Doc:
        splits = []
        for token in doc:
            text = token.text
            if len(text) > self.max_chars or (text and (invisible(text[0]) or invisible(text[-1]))):
                parts = pieces(text, self.max_chars, self.piece_chars)
                if len(parts) > 1:
                    splits.append((token, parts))
        if splits:
            long_tokens = [[t.idx, t.idx + len(t.text)] for t, _ in splits if len(t.text) > self.max_chars]
            if long_tokens:
                doc.user_data[SPLIT_KEY] = doc.user_data.get(SPLIT_KEY, []) + long_tokens
            with doc.retokenize() as retokenizer:
                for token, parts in splits:
                    # Each piece its own head: no parse exists yet.
                    retokenizer.split(token, parts, heads=[(token, i) for i in range(len(parts))])
        return doc


@Language.factory("split_tokens", default_config={"max_chars": 100, "piece_chars": 3})
def make_split_tokens(nlp: Language, name: str, max_chars: int, piece_chars: int) -> TokenSplitter:
    return TokenSplitter(name, max_chars, piece_chars)


def outside_split_tokens(span: Span) -> Tuple[int, int]:
    """The longest run of the span's tokens outside split over-long tokens
    (the whole span when it crosses none, or lies inside one)."""
    long_tokens = span.doc.user_data.get(SPLIT_KEY)
    if not long_tokens:
        return span.start, span.end
    inside = [any(a <= token.idx < b for a, b in long_tokens) for token in span]
    if all(inside) or not any(inside):
        return span.start, span.end
    runs, run_start = [], None
    for i, flag in enumerate(inside + [True]):
        if not flag and run_start is None:
            run_start = i
        elif flag and run_start is not None:
            runs.append((span.start + run_start, span.start + i))
            run_start = None
    return max(runs, key=lambda run: span.doc[run[1] - 1].idx + len(span.doc[run[1] - 1]) - span.doc[run[0]].idx)


def trimmed(span: Span) -> Optional[Tuple[int, int]]:
    start, end = outside_split_tokens(span)
    doc = span.doc
    while start < end and blank(doc[start].text):
        start += 1
    while end > start and blank(doc[end - 1].text):
        end -= 1
    return (start, end) if start < end else None


def trim_span(span: Span) -> Optional[Span]:
    """The span without blank edge tokens (itself when it has none; None when
    it is all blank); the confidence goes with it."""
    bounds = trimmed(span)
    if bounds is None or bounds == (span.start, span.end):
        return span if bounds else None
    new = Span(span.doc, bounds[0], bounds[1], label=span.label, kb_id=span.kb_id)
    if Span.has_extension("confidence") and span._.confidence is not None:
        new._.confidence = span._.confidence
    return new


def trim_entities(doc: Doc) -> Doc:
    ents = list(doc.ents)
    new = [trim_span(ent) for ent in ents]
    if any(a is not b for a, b in zip(ents, new)):
        doc.ents = [ent for ent in new if ent is not None]
    from med_ner.components.entity_confidence import CANDIDATES_KEY

    group = doc.spans.get(CANDIDATES_KEY)
    if group is not None and len(group):
        scores = group.attrs.get("scores")
        kept = [(trim_span(span), i) for i, span in enumerate(group)]
        kept = [(span, i) for span, i in kept if span is not None]
        replaced = SpanGroup(doc, name=CANDIDATES_KEY, spans=[span for span, _ in kept], attrs=dict(group.attrs))
        if scores is not None:
            replaced.attrs["scores"] = [scores[i] for _, i in kept]
        doc.spans[CANDIDATES_KEY] = replaced
    return doc


@Language.factory("trim_entities")
def make_trim_entities(nlp: Language, name: str):
    return trim_entities


ENTITY_SETTERS = ("ner", "beam_ner", "entity_confidence", "entity_ruler", "span_ruler")


def add_edge_components(nlp: Language) -> None:
    """split_tokens first and trim_entities right after the last component that
    sets entities (entity_confidence, added after the ner later, comes before
    it). A pipeline that has them keeps them as they are."""
    if "split_tokens" not in nlp.pipe_names:
        nlp.add_pipe("split_tokens", first=True)
    setters = [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory in ENTITY_SETTERS]
    if setters and "trim_entities" not in nlp.pipe_names:
        nlp.add_pipe("trim_entities", after=setters[-1])
