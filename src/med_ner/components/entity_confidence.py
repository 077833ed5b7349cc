"""A calibrated confidence on every entity: the `entity_confidence` component.

It sits after the transition-based `ner` and replays the ner's greedy parse of
each document: the ner model scores every parser state (reusing the
transformer output already on the doc, `doc._.trf_data`, so no second
transformer pass), a softmax over the actions valid in that state gives each
action's probability, and the path follows the ner's own actions (the BILUO
tags of `doc.ents`). An entity's raw confidence is the product of the
probabilities of the actions that built it (`B`, `I`..., `L`, or `U` with its label);
a Calibrator fitted on dev (`med-ner calibrate`) maps it to
`ent._.confidence`, the probability that this exact span with this label is
correct.

- `threshold` (config; 0.0 keeps every entity): entities below it leave
  `doc.ents`. Override at load: spacy.load(..., config={"components":
  {"entity_confidence": {"threshold": 0.5}}}), or `set_threshold`.
- `candidates` (config): `doc.spans["ner_candidates"]` holds the entities the
  threshold dropped and, for each kept entity, the same span with the
  runner-up label (its first action replaced by the best action of another
  label), their confidences in the group's `attrs["scores"]` (a span's `._`
  values are keyed by its offsets, which a runner-up shares with its entity).
- `replay_mismatches`: the number of states where the ner's action was not the
  argmax of the replayed scores (0 when the replay reproduces the ner).
"""
from typing import Callable, Dict, Iterable, Iterator, List, Optional

import numpy
import srsly
from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example
from spacy.util import ensure_path, minibatch

from med_ner.evaluation.calibration import Calibrator

CANDIDATES_KEY = "ner_candidates"

if not Span.has_extension("confidence"):
    Span.set_extension("confidence", default=None)


class EntityConfidence:
    def __init__(self, nlp: Language, name: str, ner: str, threshold: float, candidates: bool, batch_size: int):
        self.nlp = nlp
        self.name = name
        self.ner_name = ner
        self.threshold = check_threshold(threshold, f"[components.{name}] threshold")
        self.candidates = candidates
        self.batch_size = batch_size
        self.calibrator = Calibrator()
        self.replay_mismatches = 0

    # --- the replay --------------------------------------------------------------

    def raw_scores(self, docs: List[Doc]) -> List[List[Dict]]:
        """Per doc, per entity of doc.ents (in order): {"raw", "runner_up"
        (label or None), "runner_up_raw"}. doc.ents and the tokens' entity
        annotation are unchanged on return."""
        ner = self.nlp.get_pipe(self.ner_name)
        moves = ner.moves
        names = [moves.get_class_name(i) for i in range(moves.n_moves)]
        index = {name: i for i, name in enumerate(names)}
        docs = [doc for doc in docs]
        if not any(len(doc) for doc in docs):
            return [[] for _ in docs]
        saved = [(list(doc.ents), doc.to_array(["ENT_IOB", "ENT_TYPE", "ENT_KB_ID"])) for doc in docs]
        tags = [biluo_tags(doc) for doc in docs]
        steps: List[List] = [[None] * len(doc) for doc in docs]
        try:
            # Parser states read the tokens' entity annotation as constraints:
            # replay over documents with none, as the ner saw them.
            for doc in docs:
                doc.set_ents([], default="missing")
            states = moves.init_batch(docs)
            model = ner.model.predict(docs)
            todo = [(i, s) for i, s in enumerate(states) if not s.is_final()]
            while todo:
                scores = model.predict([s for _, s in todo])
                for row, (i, state) in zip(scores, todo):
                    position = state.B(0)
                    valid = numpy.fromiter((moves.is_valid(state, name) for name in names), dtype=bool, count=len(names))
                    action = index[tags[i][position]]
                    logits = numpy.where(valid, row, -numpy.inf)
                    if int(numpy.argmax(logits)) != action:
                        self.replay_mismatches += 1
                    probs = numpy.exp(logits - logits.max())
                    probs /= probs.sum()
                    steps[i][position] = (action, probs)
                    moves.apply_transition(state, names[action])
                todo = [(i, s) for i, s in todo if not s.is_final()]
            model.clear_memory()
        finally:
            for doc, (ents, array) in zip(docs, saved):
                doc.from_array(["ENT_IOB", "ENT_TYPE", "ENT_KB_ID"], array)
        return [self._entity_scores(doc, ents, doc_steps, names)
                for doc, (ents, _), doc_steps in zip(docs, saved, steps)]

    @staticmethod
    def _entity_scores(doc: Doc, ents: List[Span], steps: List, names: List[str]) -> List[Dict]:
        out = []
        for ent in ents:
            path = steps[ent.start:ent.end]
            if any(step is None for step in path):
                out.append({"raw": None, "runner_up": None, "runner_up_raw": None})
                continue
            raw = float(numpy.prod([probs[action] for action, probs in path]))
            first_action, first_probs = path[0]
            move = "U" if len(ent) == 1 else "B"
            best, best_p = None, 0.0
            for i, name in enumerate(names):
                move_name, _, label = name.partition("-")
                if move_name == move and label and label != ent.label_ and first_probs[i] > best_p:
                    best, best_p = label, float(first_probs[i])
            runner_raw = raw / float(first_probs[first_action]) * best_p if best is not None else None
            out.append({"raw": raw, "runner_up": best, "runner_up_raw": runner_raw})
        return out

    # --- annotation ---------------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.raw_scores([doc]))
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: Optional[int] = None) -> Iterator[Doc]:
        for batch in minibatch(stream, size=batch_size or self.batch_size):
            batch = list(batch)
            self.set_annotations(batch, self.raw_scores(batch))
            yield from batch

    def set_annotations(self, docs: List[Doc], scores: List[List[Dict]]) -> None:
        for doc, ent_scores in zip(docs, scores):
            ents = list(doc.ents)
            raw = [s["raw"] if s["raw"] is not None else 1.0 for s in ent_scores]
            confidences = self.calibrator(raw, [e.label_ for e in ents]).tolist()
            kept, dropped = [], []
            for ent, confidence in zip(ents, confidences):
                ent._.confidence = float(confidence)
                (kept if confidence >= self.threshold else dropped).append((ent, confidence))
            if dropped:
                doc.ents = [ent for ent, _ in kept]
            if self.candidates:
                spans, values = [], []
                for ent, confidence in dropped:
                    spans.append(ent)
                    values.append(float(confidence))
                runner = [(ent, s) for ent, s in zip(ents, ent_scores) if s["runner_up"] is not None]
                runner_conf = self.calibrator([s["runner_up_raw"] for _, s in runner],
                                              [s["runner_up"] for _, s in runner]).tolist()
                for (ent, s), confidence in zip(runner, runner_conf):
                    spans.append(Span(doc, ent.start, ent.end, label=s["runner_up"]))
                    values.append(float(confidence))
                group = SpanGroup(doc, name=CANDIDATES_KEY, spans=spans)
                group.attrs["scores"] = values
                doc.spans[CANDIDATES_KEY] = group

    # --- calibration --------------------------------------------------------------

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None,
                   method: str = "platt") -> None:
        """Fit the calibration on the examples (the dev split): the pipeline up
        to the ner predicts them, and every predicted entity's raw confidence
        is paired with whether its exact span and label are in the gold."""
        raw, correct, labels = self.dev_outcomes(get_examples())
        self.calibrator = Calibrator.fit(method, raw, correct, labels)

    def dev_outcomes(self, examples: Iterable[Example]):
        examples = list(examples)
        names = self.nlp.pipe_names
        upto = names[: names.index(self.ner_name) + 1]
        with self.nlp.select_pipes(enable=upto):
            docs = list(self.nlp.pipe(eg.predicted.copy() for eg in examples))
        raw, correct, labels = [], [], []
        for batch_start in range(0, len(docs), self.batch_size):
            batch = docs[batch_start: batch_start + self.batch_size]
            refs = examples[batch_start: batch_start + self.batch_size]
            for doc, eg, ent_scores in zip(batch, refs, self.raw_scores(batch)):
                gold = {(e.start_char, e.end_char, e.label_) for e in eg.reference.ents}
                for ent, s in zip(doc.ents, ent_scores):
                    if s["raw"] is None:
                        continue
                    raw.append(s["raw"])
                    correct.append((ent.start_char, ent.end_char, ent.label_) in gold)
                    labels.append(ent.label_)
        return raw, correct, labels

    # --- serialization ------------------------------------------------------------

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        return srsly.json_dumps(self.calibrator.to_dict()).encode("utf-8")

    def from_bytes(self, data: bytes, *, exclude=tuple()) -> "EntityConfidence":
        self.calibrator = Calibrator.from_dict(srsly.json_loads(data))
        return self

    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "calibration.json", self.calibrator.to_dict())

    def from_disk(self, path, *, exclude=tuple()) -> "EntityConfidence":
        path = ensure_path(path)
        if (path / "calibration.json").exists():
            self.calibrator = Calibrator.from_dict(srsly.read_json(path / "calibration.json"))
        return self


def biluo_tags(doc: Doc) -> List[str]:
    """The ner action names (B-X, I-X, L-X, U-X, O) that built doc.ents."""
    tags = ["O"] * len(doc)
    for ent in doc.ents:
        if len(ent) == 1:
            tags[ent.start] = f"U-{ent.label_}"
        else:
            tags[ent.start] = f"B-{ent.label_}"
            for i in range(ent.start + 1, ent.end - 1):
                tags[i] = f"I-{ent.label_}"
            tags[ent.end - 1] = f"L-{ent.label_}"
    return tags


def check_threshold(value, what: str = "threshold") -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {value!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what}: {value} is not between 0 and 1")
    return value


def set_threshold(nlp: Language, threshold: Optional[float]) -> None:
    """Override the threshold of the pipeline's entity_confidence (None: leave it)."""
    if threshold is None:
        return
    value = check_threshold(threshold, "--threshold")
    components = [pipe for _, pipe in nlp.pipeline if isinstance(pipe, EntityConfidence)]
    if not components:
        raise ValueError("--threshold: the pipeline has no entity_confidence component "
                         "(add one with `med-ner calibrate`)")
    for component in components:
        component.threshold = value


@Language.factory(
    "entity_confidence",
    default_config={"ner": "ner", "threshold": 0.0, "candidates": False, "batch_size": 64},
    assigns=["span._.confidence"],
    requires=["doc.ents"],
)
def make_entity_confidence(nlp: Language, name: str, ner: str, threshold: float, candidates: bool,
                           batch_size: int) -> EntityConfidence:
    return EntityConfidence(nlp, name, ner, threshold, candidates, batch_size)
