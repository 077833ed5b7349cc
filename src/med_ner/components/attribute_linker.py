"""Attribute links: the `attribute_linker` component.

It attaches each attribute span (doc.spans[spans_key]: LAB_VALUE, DOSAGE, ROUTE,
SEVERITY, FREQUENCY, DURATION) and each BODY_PART entity to the entity it
describes, or to none. After it runs:

- `ent._.attributes` on every entity of doc.ents: a list of
  `{"type", "text", "start", "end", "score"}` (a BODY_PART modifier has type
  "SITE"; start/end are character offsets; score is the link probability);
- `span._.modifies` on each linked modifier: `{"label", "text", "start", "end",
  "score"}` of its head entity (None when unlinked).

Two logistic regressions over pairs (modifier, candidate head in the same
sentence, of a label pair seen in training), fitted at `initialize` on gold
links (`doc.user_data["links"]`: `[mod_start, mod_end, head_start, head_end]`
character offsets, as the BRAT converter writes MACCROBAT's MODIFY relations).
The pair model reads one pair at a time: the label pair, direction and
distance, the candidate's rank among same-side candidates and among all of
them, the words between, punctuation and competing entities between, and the
words of both spans. The second model reads the same features and what the
pair model said about the candidate's rivals: its rank and margin among the
modifier's candidates, whether the modifier is the most probable one of its
type for that head (a test usually takes one value), and whether it is listed
with the modifier's best head (a value can describe a list of tests). It is
fitted on out-of-fold pair probabilities (folds of documents). Each modifier
takes its most probable candidate when that probability reaches a threshold,
and any other candidate above a second one; both are chosen on out-of-fold
predictions. Needs only spaCy and numpy.
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

import srsly
from spacy.language import Language
from spacy.scorer import PRFScore
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import ensure_path

from med_ner.components.attribute_extensions import SITE
from med_ner.components.clinical_context import LogisticModel, sentence_ids

# A semicolon separates the items of a list that one value can describe, so it ends no sentence here.
LINK_SENTENCE_END = {".", "!", "?"}
LIST_WORDS = {",", "and", "or", ";", "(", ")", "the", "of", "levels", "level", "as", "well", "both", "/"}
# Tokens between a modifier and its candidate head that are counted as features.
BETWEEN_MARKERS = {",", ";", ":", "(", ")", "and", "with", "of", "in"}
LINKS_KEY = "links"
Link = Tuple[int, int, int, int, str]  # modifier start/end char, head start/end char, type


def _bucket(distance: int) -> str:
    if distance <= 2:
        return str(distance)
    return "3-5" if distance <= 5 else ("6-10" if distance <= 10 else "11+")


def modifiers(doc: Doc, spans_key: str, site_label: str) -> List[Tuple[Span, str]]:
    """The attribute spans with their labels as types, and the site entities (type SITE)."""
    found = [(span, span.label_) for span in doc.spans.get(spans_key, [])]
    return found + [(ent, SITE) for ent in doc.ents if ent.label_ == site_label]


def gold_links(doc: Doc, spans_key: str, site_label: str) -> Set[Link]:
    """The doc's gold links, typed by their modifier (links whose modifier is
    neither an attribute span nor a site entity have no type and are left out)."""
    types = {(span.start_char, span.end_char): kind for span, kind in modifiers(doc, spans_key, site_label)}
    return {(ms, me, hs, he, types[(ms, me)]) for ms, me, hs, he in doc.user_data.get(LINKS_KEY) or []
            if (ms, me) in types}


def predicted_links(doc: Doc) -> Set[Link]:
    return {(a["start"], a["end"], ent.start_char, ent.end_char, a["type"])
            for ent in doc.ents for a in (ent._.attributes or [])}


def score_links(pairs: Iterable[Tuple[Set[Link], Set[Link]]]) -> Dict[str, float]:
    """Micro P/R/F over (gold, predicted) link sets: a link counts when both spans and the type match."""
    prf = PRFScore()
    for gold, pred in pairs:
        prf.tp += len(gold & pred)
        prf.fp += len(pred - gold)
        prf.fn += len(gold - pred)
    return {"link_p": prf.precision, "link_r": prf.recall, "link_f": prf.fscore, "link_support": prf.tp + prf.fn}


@dataclass
class DocContext:
    """What the features of one document read, computed once per call (doc.ents
    builds new spans each time; token attributes are cheaper read once into
    lists) and held here, not on the component."""

    doc: Doc
    sentences: List[int]
    modifiers: List[Tuple[Span, str]]
    ents: List[Tuple[Span, str]]  # (entity, label)
    lower: List[str]
    text: List[str]
    spans_of: Dict[str, List[Tuple[int, int]]] = field(default_factory=dict)
    tokens_of: Dict[str, Set[int]] = field(default_factory=dict)
    modifier_spans_of: Dict[str, List[Tuple[int, int]]] = field(default_factory=dict)

    @classmethod
    def of(cls, doc: Doc, spans_key: str, site_label: str) -> "DocContext":
        ctx = cls(doc, sentence_ids(doc, LINK_SENTENCE_END).tolist(), modifiers(doc, spans_key, site_label),
                  [(ent, ent.label_) for ent in doc.ents], [t.lower_ for t in doc], [t.text for t in doc])
        for ent, label in ctx.ents:
            ctx.spans_of.setdefault(label, []).append((ent.start, ent.end))
            ctx.tokens_of.setdefault(label, set()).update(range(ent.start, ent.end))
        for mod, kind in ctx.modifiers:
            ctx.modifier_spans_of.setdefault(kind, []).append((mod.start, mod.end))
        return ctx

    def word(self, i: int) -> str:
        return self.lower[i] if 0 <= i < len(self.lower) else "<edge>"


class AttributeLinker:
    def __init__(self, nlp: Language, name: str, spans_key: str, site_label: str, max_distance: int,
                 min_pair_count: int, folds: int, l2: float):
        self.nlp = nlp
        self.name = name
        self.spans_key = spans_key
        self.site_label = site_label
        self.max_distance = max_distance
        self.min_pair_count = min_pair_count
        self.folds = folds
        self.l2 = l2
        self.compatible: Dict[str, List[str]] = {}  # modifier type -> head labels seen in training
        self.model: Optional[LogisticModel] = None  # pairs, one at a time
        self.reranker: Optional[LogisticModel] = None  # pairs, with the pair model's view of their rivals
        self.threshold = 0.5  # for a modifier's most probable head
        self.other_threshold = 1.01  # for heads after the most probable one; above 1: none

    # Candidates and features

    def candidates(self, ctx: "DocContext", mod: Span, kind: str) -> List[Span]:
        allowed = set(self.compatible.get(kind, ()))
        found = []
        sent = ctx.sentences
        ms, me = mod.start, mod.end
        for ent, label in ctx.ents:
            if label not in allowed:
                continue
            es, ee = ent.start, ent.end
            if (es == ms and ee == me) or (sent[es] != sent[ms] and sent[ee - 1] != sent[me - 1]):
                continue
            if self._distance(mod, ent) <= self.max_distance:
                found.append(ent)
        return found

    @staticmethod
    def _distance(mod: Span, head: Span) -> int:
        if head.start >= mod.end:
            return head.start - mod.end
        if head.end <= mod.start:
            return mod.start - head.end
        return 0

    @staticmethod
    def _side(mod: Span, head: Span) -> str:
        return "R" if head.start >= mod.end else ("L" if head.end <= mod.start else "O")

    def ranks(self, mod: Span, heads: List[Span]) -> List[Tuple[int, int]]:
        """Each head's rank by distance among the heads on its side of the
        modifier, and among all of them."""
        same_side: Dict[int, int] = {}
        seen: Counter = Counter()
        for h in sorted(heads, key=lambda h: self._distance(mod, h)):
            side = self._side(mod, h)
            same_side[h.start] = seen[side]
            seen[side] += 1
        overall = {h.start: i for i, h in enumerate(sorted(heads, key=lambda h: (self._distance(mod, h), h.start)))}
        return [(same_side[h.start], overall[h.start]) for h in heads]

    def pair_features(self, ctx: "DocContext", mod: Span, kind: str, head: Span, rank: int,
                      overall_rank: int) -> List[str]:
        ms, me, hs, he = mod.start, mod.end, head.start, head.end
        label = head.label_
        side, distance = self._side(mod, head), self._distance(mod, head)
        pair = f"{kind}>{label}"
        nearest = overall_rank == 0
        lo, hi = (me, hs) if side == "R" else (he, ms)
        between = range(lo, hi) if side != "O" else range(0)
        lower, text = ctx.lower, ctx.text
        feats = [f"p={pair}", f"pd={pair}|{side}", f"pdd={pair}|{side}|{_bucket(distance)}",
                 f"rank={pair}|{side}|{min(rank, 3)}", f"nearest={pair}|{nearest}",
                 f"overall_rank={pair}|{side}|{min(overall_rank, 3)}", f"k={kind}",
                 f"hw={kind}|{lower[he - 1]}", f"mw={pair}|{lower[ms]}",
                 f"mh={lower[me - 1]}|{lower[he - 1]}"]
        if len(between) <= 6:
            feats += [f"bw={kind}|{side}|{lower[i]}" for i in between]
        else:
            feats.append(f"far={kind}|{side}")
        punct: Dict[str, int] = {}
        for i in between:
            if text[i] in BETWEEN_MARKERS:
                punct[text[i]] = punct.get(text[i], 0) + 1
        feats += [f"punct={kind}|{side}|{p}|{min(n, 2)}" for p, n in punct.items()]
        rivals = sum(1 for start, end in ctx.spans_of[label] if lo <= start and end <= hi)
        feats.append(f"rivals={pair}|{min(rivals, 2)}")
        others = sum(1 for start, end in ctx.modifier_spans_of[kind] if lo <= start and end <= hi)
        feats.append(f"same_mods_between={kind}|{min(others, 2)}")
        feats.append(f"prev={kind}|{ctx.word(ms - 1)}")
        feats.append(f"next={kind}|{ctx.word(me)}")
        feats.append(f"hprev={kind}|{side}|{ctx.word(hs - 1)}")
        feats.append(f"hnext={kind}|{side}|{ctx.word(he)}")
        # An abbreviation in brackets after its long form: the long form is the head.
        feats.append(f"hparen={pair}|{ctx.word(hs - 1) == '(' and ctx.word(he) == ')'}")
        head_text = head.text
        feats.append(f"hupper={pair}|{head_text.isupper() and len(head_text) <= 6}")
        # A list of heads ("normal electrolytes, calcium and glucose"): only list
        # words and entities of the head's label between.
        inside = ctx.tokens_of[label]
        listed = side != "O" and all(i in inside or lower[i] in LIST_WORDS for i in between)
        feats.append(f"list={pair}|{side}|{listed}|{min(rivals, 2)}")
        return feats

    def doc_pairs(self, doc: Doc) -> Tuple[DocContext, List[Tuple[Span, str, List[Span], List[List[str]]]]]:
        """Every modifier with its candidate heads and their feature rows."""
        ctx = DocContext.of(doc, self.spans_key, self.site_label)
        out = []
        for mod, kind in ctx.modifiers:
            heads = self.candidates(ctx, mod, kind)
            out.append((mod, kind, heads, [self.pair_features(ctx, mod, kind, h, *ranks)
                                           for h, ranks in zip(heads, self.ranks(mod, heads))]))
        return ctx, out

    def rerank_features(self, ctx: DocContext, pairs, probs: List[List[float]]) -> List[List[List[str]]]:
        """Each candidate's pair features with what the pair model said
        (`probs`, per modifier and candidate) about it and its rivals."""
        best_mod: Dict[Tuple[int, str], Tuple[float, int]] = {}  # (head start, type) -> (probability, modifier start)
        for (mod, kind, heads, _), ps in zip(pairs, probs):
            for head, p in zip(heads, ps):
                if p > best_mod.get((head.start, kind), (-1.0, -1))[0]:
                    best_mod[head.start, kind] = (p, mod.start)
        out = []
        for (mod, kind, heads, rows), ps in zip(pairs, probs):
            order = sorted(range(len(heads)), key=lambda i: -ps[i])
            rank = {i: r for r, i in enumerate(order)}
            top = heads[order[0]] if heads else None
            reranked = []
            for i, (head, p, row) in enumerate(zip(heads, ps, rows)):
                pair = f"{kind}>{head.label_}"
                feats = row + [f"first_rank={pair}|{min(rank[i], 2)}",
                               f"first_p={kind}|{min(rank[i], 2)}|{int(p * 5)}",
                               f"head_best={pair}|{best_mod[head.start, kind][1] == mod.start}"]
                if rank[i] > 0:
                    feats.append(f"first_gap={kind}|{int((ps[order[0]] - p) * 5)}")
                    if top.label_ == head.label_:
                        lo, hi = (top.end, head.start) if head.start >= top.end else (head.end, top.start)
                        inside = ctx.tokens_of[head.label_]
                        listed = all(j in inside or ctx.lower[j] in LIST_WORDS for j in range(lo, hi))
                        feats.append(f"listed_with_best={pair}|{listed}")
                reranked.append(feats)
            out.append(reranked)
        return out

    # Training

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None) -> None:
        docs = [eg.reference for eg in get_examples()]
        pair_counts: Counter = Counter()
        for doc in docs:
            labels = {(e.start_char, e.end_char): e.label_ for e in doc.ents}
            for ms, me, hs, he, kind in gold_links(doc, self.spans_key, self.site_label):
                if (hs, he) in labels:
                    pair_counts[kind, labels[hs, he]] += 1
        if not pair_counts:
            raise ValueError(f"{self.name}: the training examples hold no gold links (doc.user_data['links'] "
                             f"with modifiers in doc.spans[{self.spans_key!r}] or {self.site_label} entities)")
        self.compatible = {}
        for (kind, label), n in sorted(pair_counts.items()):
            if n >= self.min_pair_count:
                self.compatible.setdefault(kind, []).append(label)
        data = [self._training_doc(doc) for doc in docs]
        data = [d for d in data if any(heads for _, _, heads, _ in d[1])]
        folds = min(self.folds, len(data))
        if folds < 2:
            raise ValueError(f"{self.name}: out-of-fold fitting needs candidate links in at least 2 training "
                             f"documents, found {len(data)}")
        fold_of = [i % folds for i in range(len(data))]

        def fit(rows_of, fold=None):  # on every document, or on those outside one fold
            chosen = [i for i in range(len(data)) if fold_of[i] != fold]
            return LogisticModel.fit([r for i in chosen for rows in rows_of[i] for r in rows],
                                     [y for i in chosen for ys in data[i][2] for y in ys], l2=self.l2)

        pair_rows = [[rows for _, _, _, rows in pairs] for _, pairs, _ in data]
        first = [None] * len(data)  # out-of-fold pair probabilities
        for fold in range(folds):
            model = fit(pair_rows, fold)
            for i in (i for i in range(len(data)) if fold_of[i] == fold):
                first[i] = [[model.probability(r) for r in rows] for rows in pair_rows[i]]
        second_rows = [self.rerank_features(ctx, pairs, probs) for (ctx, pairs, _), probs in zip(data, first)]
        self.model = fit(pair_rows)
        self.reranker = fit(second_rows)
        ranked = []  # per modifier: [(probability, is gold)] of the out-of-fold second model, descending
        for fold in range(folds):
            model = fit(second_rows, fold)
            for i in (i for i in range(len(data)) if fold_of[i] == fold):
                ranked += [sorted(((model.probability(r), y) for r, y in zip(rows, ys)), reverse=True)
                           for rows, ys in zip(second_rows[i], data[i][2]) if rows]
        self.threshold, self.other_threshold = best_thresholds(ranked)

    def _training_doc(self, doc: Doc):
        """The doc's context, its modifiers with candidates and feature rows, and per candidate whether it is gold."""
        gold = {(ms, me, hs, he) for ms, me, hs, he, _ in gold_links(doc, self.spans_key, self.site_label)}
        ctx, pairs = self.doc_pairs(doc)
        labels = [[int((mod.start_char, mod.end_char, h.start_char, h.end_char) in gold) for h in heads]
                  for mod, _, heads, _ in pairs]
        return ctx, pairs, labels

    # Prediction

    def __call__(self, doc: Doc) -> Doc:
        if self.model is None:
            for ent in doc.ents:
                ent._.attributes = []
            return doc
        ctx, pairs = self.doc_pairs(doc)
        for ent, _ in ctx.ents:  # the entities read once, in the context
            ent._.attributes = []
        probs = [[self.model.probability(row) for row in rows] for _, _, _, rows in pairs]
        if self.reranker is not None:
            probs = [[self.reranker.probability(row) for row in rows]
                     for rows in self.rerank_features(ctx, pairs, probs)]
        for (mod, kind, heads, _), ps in zip(pairs, probs):
            mod._.modifies = None
            ranked = sorted(zip(ps, range(len(heads))), reverse=True)
            for k, (prob, i) in enumerate(ranked):
                if prob < (self.threshold if k == 0 else self.other_threshold):
                    break
                head, score = heads[i], round(prob, 4)
                head._.attributes = head._.attributes + [
                    {"type": kind, "text": mod.text, "start": mod.start_char, "end": mod.end_char, "score": score}]
                if k == 0:  # the reverse link names the most probable head
                    mod._.modifies = {"label": head.label_, "text": head.text, "start": head.start_char,
                                      "end": head.end_char, "score": score}
        return doc

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, float]:
        return score_links((gold_links(eg.reference, self.spans_key, self.site_label), predicted_links(eg.predicted))
                           for eg in examples)

    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "model.json", {
            "compatible": self.compatible, "threshold": self.threshold, "other_threshold": self.other_threshold,
            "model": self.model.to_dict() if self.model else None,
            "reranker": self.reranker.to_dict() if self.reranker else None})

    def from_disk(self, path, *, exclude=tuple()) -> "AttributeLinker":
        data = srsly.read_json(ensure_path(path) / "model.json")
        self.compatible = data["compatible"]
        self.other_threshold = data["other_threshold"]
        self.model = LogisticModel.from_dict(data["model"]) if data["model"] else None
        # Pipelines saved before the second model have the pair model and its threshold only.
        self.reranker = LogisticModel.from_dict(data["reranker"]) if data.get("reranker") else None
        self.threshold = data.get("threshold", self.model.threshold if self.model else 0.5)
        return self


def best_thresholds(ranked: List[List[Tuple[float, int]]]) -> Tuple[float, float]:
    """The thresholds of the best candidate and of any further candidate (a
    modifier may describe a list of heads) with the best link F1, given per
    modifier its candidates' (probability, is gold), most probable first."""
    gold_total = sum(y for candidates in ranked for _, y in candidates)
    grid = [step / 20 for step in range(2, 20)]
    best, best_f = (0.5, 1.0), -1.0
    for first in grid:
        for other in [t for t in grid if t >= first] + [1.01]:
            tp = fp = 0
            for candidates in ranked:
                for k, (p, y) in enumerate(candidates):
                    if p >= (first if k == 0 else other):
                        tp += y
                        fp += 1 - y
            f = 2 * tp / (tp + fp + gold_total) if tp else 0.0
            if f > best_f:
                best, best_f = (first, other), f
    return best


@Language.factory(
    "attribute_linker",
    default_config={"spans_key": "attributes", "site_label": "BODY_PART", "max_distance": 30, "min_pair_count": 5,
                    "folds": 4, "l2": 1e-4},
    default_score_weights={"link_f": 0.0, "link_p": None, "link_r": None, "link_support": None},
)
def make_attribute_linker(nlp: Language, name: str, spans_key: str, site_label: str, max_distance: int,
                          min_pair_count: int, folds: int, l2: float) -> AttributeLinker:
    return AttributeLinker(nlp, name, spans_key, site_label, max_distance, min_pair_count, folds, l2)
