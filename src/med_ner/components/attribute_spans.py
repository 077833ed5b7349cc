"""Parts of the `attribute_spans` component (spaCy's `spancat_singlelabel`,
configs/attributes.cfg): which candidate spans it scores, the token vectors
it scores them from, and the model that scores them in bounded memory.

Registered through the package's entry points, so the packaged pipeline loads
without --code."""
from typing import Callable, Collection, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy
from spacy.ml.models.spancat import build_spancat_model
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


@registry.architectures("en_med_ner.AttributeSpanCategorizer.v1")
def attribute_span_categorizer(tok2vec: Model[List[Doc], List[Floats2d]], reducer: Model[Ragged, Floats2d],
                               scorer: Model[Floats2d, Floats2d], group_tokens: int = 2000,
                               chunk_spans: int = 1024) -> Model[Tuple[List[Doc], Ragged], Floats2d]:
    """spaCy's SpanCategorizer.v1 (tok2vec >> extract_spans >> reducer >>
    scorer), trained as that model is, predicting in bounded memory: token
    vectors for runs of documents of up to `group_tokens` tokens, then
    `chunk_spans` candidates at a time. The whole batch at once held each
    candidate's token vectors and pooled vector (57 and 74 MB for the 24,140
    candidates of MACCROBAT's 20 test documents); NumPy asks the kernel for
    huge pages for arrays of 4 MB and more, and where the kernel compacts
    memory to find them, passes of the pipeline stalled up to three times
    their length. Chunks of this size stay under 4 MB."""
    if group_tokens < 1 or chunk_spans < 1:
        raise ValueError("attribute span categorizer: group_tokens and chunk_spans must be at least 1")
    spancat = build_spancat_model(tok2vec, reducer, scorer)
    model = Model("attribute_span_categorizer", _span_categorizer_forward, init=_span_categorizer_init,
                  layers=[spancat], dims={"nO": None},
                  attrs={"group_tokens": group_tokens, "chunk_spans": chunk_spans})
    for name in ("tok2vec", "reducer", "scorer"):
        model.set_ref(name, spancat.get_ref(name))
    return model


def _span_categorizer_init(model: Model, X=None, Y=None) -> None:
    spancat = model.layers[0]
    spancat.initialize(X=X, Y=Y)
    if spancat.has_dim("nO"):
        model.set_dim("nO", spancat.get_dim("nO"))


def document_groups(lengths: Sequence[int], max_tokens: int) -> Iterator[Tuple[int, int]]:
    """(first, end) indices of consecutive documents holding up to `max_tokens`
    tokens together; a longer document is a group of its own."""
    first, tokens = 0, 0
    for i, length in enumerate(lengths):
        if i > first and tokens + length > max_tokens:
            yield first, i
            first, tokens = i, 0
        tokens += length
    if first < len(lengths):
        yield first, len(lengths)


def _span_categorizer_forward(model: Model, inputs: Tuple[List[Doc], Ragged], is_train: bool):
    spancat = model.layers[0]
    if is_train:
        return spancat(inputs, is_train)
    docs, indices = inputs
    docs = list(docs)
    ops, xp = model.ops, model.ops.xp
    tok2vec, reducer, scorer = (model.get_ref(name) for name in ("tok2vec", "reducer", "scorer"))
    chunk = model.attrs["chunk_spans"]
    span_ends = numpy.cumsum(ops.to_numpy(indices.lengths))
    spans = ops.to_numpy(indices.dataXd)
    scores = []
    for first, end in document_groups([len(doc) for doc in docs], model.attrs["group_tokens"]):
        start_row = span_ends[first - 1] if first else 0
        if span_ends[end - 1] == start_row:
            continue
        vectors = tok2vec.predict(docs[first:end])
        tokens = xp.concatenate(vectors)
        # Candidates' offsets within the group's token rows.
        doc_offsets = numpy.cumsum([0] + [len(doc) for doc in docs[first:end - 1]])
        counts = numpy.diff(numpy.concatenate([[start_row], span_ends[first:end]]))
        group_spans = spans[start_row:span_ends[end - 1]] + numpy.repeat(doc_offsets, counts)[:, None]
        for row in range(0, len(group_spans), chunk):
            starts, stops = group_spans[row:row + chunk, 0], group_spans[row:row + chunk, 1]
            sizes = stops - starts
            rows = numpy.repeat(starts - numpy.cumsum(sizes) + sizes, sizes) + numpy.arange(sizes.sum())
            pooled = reducer.predict(Ragged(tokens[ops.asarray1i(rows)], ops.asarray1i(sizes)))
            scores.append(scorer.predict(pooled))
    if not scores:
        return ops.alloc2f(0, model.get_dim("nO") if model.has_dim("nO") else 0), _no_backprop
    return xp.concatenate(scores), _no_backprop


def _no_backprop(d_scores):
    raise ValueError("attribute span categorizer: predictions have no gradient (train with is_train=True)")
