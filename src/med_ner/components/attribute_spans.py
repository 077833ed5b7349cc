"""Parts of the `attribute_spans` component (spaCy's `spancat_singlelabel`,
configs/attributes.cfg): which candidate spans it scores, and the token
vectors it scores them from.

Registered through the package's entry points, so the packaged pipeline loads
without --code."""
from typing import Callable, Collection, Iterable, List, Optional

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Linear, Model, Ops, chain, concatenate, get_current_ops, with_array
from thinc.types import Floats2d, Ragged

# Punctuation an attribute may start or end with: a sign or bracket that is
# part of a value ("-" or "+" as a result, "<0.5", "(2+)", "5%").
START_PUNCT = {"(", "<", ">", "~", "±", "-", "+", "–", "≤", "≥"}
END_PUNCT = {")", "%", "-", "+"}
# A candidate holds no sentence end (a stop that ends no abbreviation): none
# of MACCROBAT's attribute spans does, and 3-4% of the other candidates did.
SENTENCE_END = {".", "!", "?"}


def _token_flags(doc: Doc, edge_words: Collection[str] = ()):
    n = len(doc)
    can_start = numpy.zeros(n, dtype=bool)
    can_end = numpy.zeros(n, dtype=bool)
    abbreviation_end = numpy.zeros(n, dtype=bool)
    has_digit = numpy.zeros(n, dtype=numpy.int32)
    sentence_end = numpy.zeros(n, dtype=numpy.int32)
    for i, token in enumerate(doc):
        text = token.text
        edge = not token.is_space and token.lower_ not in edge_words
        punct = token.is_punct
        can_start[i] = edge and (not punct or text in START_PUNCT)
        can_end[i] = edge and (not punct or text in END_PUNCT)
        # "p.o." tokenised as "p.o" + ".": the stop ends the abbreviation.
        abbreviation_end[i] = text == "." and i > 0 and "." in doc[i - 1].text
        sentence_end[i] = text in SENTENCE_END and not abbreviation_end[i]
        has_digit[i] = any(ch.isdigit() for ch in text)
    return (can_start, can_end, abbreviation_end, numpy.concatenate([[0], numpy.cumsum(has_digit)]),
            numpy.concatenate([[0], numpy.cumsum(sentence_end)]))


def candidate_spans(doc: Doc, max_size: int, max_size_without_digit: int,
                    edge_words: Collection[str] = ()) -> numpy.ndarray:
    """(start, end) token offsets of the spans `attribute_spans` scores: 1 to
    `max_size` tokens, not starting or ending on punctuation other than a value's
    sign or bracket, nor on one of `edge_words` (lowercased), with no sentence
    end inside, and longer than `max_size_without_digit` tokens only when one of
    their tokens has a digit."""
    if len(doc) == 0:
        return numpy.zeros((0, 2), dtype="i")
    can_start, can_end, abbreviation_end, digits, stops = _token_flags(doc, edge_words)
    parts = []
    for size in range(1, min(max_size, len(doc)) + 1):
        starts = numpy.arange(len(doc) - size + 1)
        ends = starts + size
        keep = can_start[starts] & (can_end[ends - 1] | (abbreviation_end[ends - 1] if size > 1 else False))
        if size > 2:  # no sentence end inside
            keep &= (stops[ends - 1] - stops[starts + 1]) == 0
        if size > max_size_without_digit:
            keep &= (digits[ends] - digits[starts]) > 0
        parts.append(numpy.stack([starts[keep], ends[keep]], axis=1))
    return numpy.concatenate(parts).astype("i")


@registry.misc("en_med_ner.attribute_candidates.v1")
def make_attribute_candidates(max_size: int = 8, max_size_without_digit: int = 4,
                              edge_words: List[str] = []) -> Callable:
    """Suggester for `attribute_spans`. `edge_words`: words no candidate starts
    or ends on (lowercased; the config lists function words such as "the",
    "of", "was", which begin or end 0.3% of MACCROBAT train's attribute spans
    and 40% of the other candidates)."""
    if not 1 <= max_size_without_digit <= max_size:
        raise ValueError("attribute candidates need 1 <= max_size_without_digit <= max_size")
    words = frozenset(word.lower() for word in edge_words)

    def suggest(docs: Iterable[Doc], *, ops: Optional[Ops] = None) -> Ragged:
        ops = ops or get_current_ops()
        spans = [candidate_spans(doc, max_size, max_size_without_digit, words) for doc in docs]
        lengths = ops.asarray1i([len(s) for s in spans])
        data = numpy.concatenate(spans) if spans else numpy.zeros((0, 2), dtype="i")
        return Ragged(ops.asarray2i(data), lengths)

    return suggest


@registry.architectures("en_med_ner.AttributeTok2Vec.v1")
def attribute_tok2vec(lexical: Model[List[Doc], List[Floats2d]],
                      context: Model[List[Doc], List[Floats2d]],
                      context_width: int = 96) -> Model[List[Doc], List[Floats2d]]:
    """Token vectors for attribute spans: the component's own CNN (word shapes and
    affixes: numbers with units, "severe", "oral") beside the pipeline's
    transformer read through a listener and projected to `context_width`, so
    the span scorer stays small."""
    return concatenate(lexical, chain(context, with_array(Linear(nO=context_width))))
