"""Negation and uncertainty for every entity: the `clinical_context` component.

After it runs, every span in `doc.ents` has

- `ent._.is_negated`: the finding is stated as absent, stopped or ruled out;
- `ent._.is_uncertain`: the finding is suspected, possible or not yet decided;
- `ent._.context_cues`: the trigger phrases in scope, e.g. `["negation<no evidence of"]` (`<`: the cue precedes the entity).

Two layers, chosen by measurement on MACCROBAT (see the README):

1. Rules: NegEx/ConText-style trigger phrases from a per-language JSON file
   (shipped as `context_triggers/<lang>.json`, or a file of the user's) that look forward (`*_preceding`) or back
   (`*_following`) within the sentence, up to `window` tokens, stopped by a
   terminator ("but", "however") and overridden by pseudo-triggers ("not only").
2. A logistic regression per flag, fitted at `initialize` on the training
   corpus's gold flags (BRAT `POLARITY` attributes that the converter keeps in
   `doc.user_data["ent_attrs"]`). Its features are the rule cues, the words
   around the entity, the entity's own words and its label, so it learns the
   corpus's conventions (anatomy beside a negated finding is not negated;
   "discontinued", "resolved" negate). Without gold flags in the training data
   the component stays rules-only.

Shipped inside the packaged pipeline (`spacy package --code`), so it needs only
spaCy and numpy.
"""
import json
import math
from collections import Counter
from importlib import resources
from itertools import repeat
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy
import srsly
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.scorer import PRFScore
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import ensure_path

FLAGS = ("negated", "uncertain")
TRIGGER_KEYS = (
    "negation_preceding", "negation_following", "uncertainty_preceding", "uncertainty_following",
    "pseudo", "terminators",
)
# BRAT POLARITY values (MACCROBAT) as the two flags; POS and absent mean neither.
POLARITY_FLAGS = {
    "NEG": {"negated"},
    "UNCERTAIN": {"uncertain"},
    "MAYBE_NEG": {"uncertain"},
    "MAYBE_POS": {"uncertain"},
}
SENTENCE_END = {".", "!", "?", ";"}

for _name, _default in (("is_negated", False), ("is_uncertain", False), ("context_cues", None)):
    if not Span.has_extension(_name):
        Span.set_extension(_name, default=_default)


def gold_flags(doc: Doc, span: Span) -> set:
    """The flags the reference annotation gives `span` (empty set if none)."""
    attrs = doc.user_data.get("ent_attrs", {}).get(f"{span.start_char}:{span.end_char}", {})
    return set(POLARITY_FLAGS.get(attrs.get("POLARITY", ""), set()))


def polarity(negated: bool, uncertain: bool) -> str:
    """The BRAT POLARITY value that `gold_flags` reads back as these flags, so
    documents annotated by a pipeline store flags as converted corpora do."""
    if uncertain:
        return "MAYBE_NEG" if negated else "UNCERTAIN"
    return "NEG" if negated else "POS"


def has_gold_flags(doc: Doc) -> bool:
    """Whether the document's source annotates polarity at all (BRAT corpora do)."""
    return "ent_attrs" in doc.user_data


def default_triggers(lang: str):
    """The trigger file shipped (package data) for the language `lang`."""
    return resources.files("med_ner.components") / "context_triggers" / f"{lang}.json"


def load_triggers(path) -> Dict[str, List[str]]:
    """The trigger lists of a JSON file (a path or a package resource)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path}: not a JSON trigger file ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a trigger file is a JSON object of trigger lists")
    missing = [key for key in TRIGGER_KEYS if key not in data]
    if missing:
        raise ValueError(f"{path}: trigger file lacks {', '.join(missing)}")
    for key in TRIGGER_KEYS:
        if not isinstance(data[key], list) or not all(isinstance(p, str) and p.strip() for p in data[key]):
            raise ValueError(f"{path}: '{key}' must be a list of non-empty strings")
    return {key: list(data[key]) for key in TRIGGER_KEYS}


def sentence_ids(doc: Doc, ends=SENTENCE_END) -> numpy.ndarray:
    """Sentence number of each token: a break after sentence punctuation and
    at line breaks. The same rule at training and at prediction time, whether
    or not a doc carries sentence boundaries of its own (converted corpora
    do, predicted docs from an NER-only pipeline do not)."""
    ids = numpy.zeros(len(doc), dtype="int32")
    current = 0
    prev_text = prev_space = ""
    for i, token in enumerate(doc):
        text = token.text
        if i > 0 and (prev_text in ends or "\n" in prev_text or "\n" in prev_space or "\n" in text):
            current += 1
        ids[i] = current
        prev_text, prev_space = text, token.whitespace_
    return ids


def _bucket(distance: int) -> str:
    return str(distance) if distance <= 3 else ("4-6" if distance <= 6 else "7+")


class LogisticModel:
    """Sparse binary logistic regression: feature strings to weights."""

    def __init__(self, weights: Optional[Dict[str, float]] = None, bias: float = 0.0, threshold: float = 0.5):
        self.weights = weights or {}
        self.bias = bias
        self.threshold = threshold

    def probability(self, features: Iterable[str]) -> float:
        score = self.bias + sum(map(self.weights.get, set(features), repeat(0.0)))
        return 1.0 / (1.0 + math.exp(-max(min(score, 30.0), -30.0)))

    @classmethod
    def fit(cls, rows: List[List[str]], labels: List[int], *, l2: float = 1e-3, epochs: int = 300,
            learn_rate: float = 0.1, min_count: int = 2) -> "LogisticModel":
        """Full-batch Adam on the mean log loss plus an L2 penalty."""
        counts = Counter(f for row in rows for f in set(row))
        vocab = {f: i for i, f in enumerate(sorted(f for f, c in counts.items() if c >= min_count))}
        indices = [sorted({vocab[f] for f in row if f in vocab}) for row in rows]
        row_of = numpy.concatenate([numpy.full(len(ix), r, dtype="int64") for r, ix in enumerate(indices)])
        col_of = numpy.concatenate([numpy.asarray(ix, dtype="int64") for ix in indices])
        y = numpy.asarray(labels, dtype="float64")
        n = len(rows)
        w = numpy.zeros(len(vocab) + 1)  # last entry is the bias
        m = numpy.zeros_like(w)
        v = numpy.zeros_like(w)
        for step in range(1, epochs + 1):
            scores = numpy.bincount(row_of, weights=w[col_of], minlength=n) + w[-1]
            probs = 1.0 / (1.0 + numpy.exp(-numpy.clip(scores, -30, 30)))
            error = (probs - y) / n
            grad = numpy.zeros_like(w)
            grad[:-1] = numpy.bincount(col_of, weights=error[row_of], minlength=len(vocab)) + l2 * w[:-1]
            grad[-1] = error.sum()
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * grad ** 2
            w -= learn_rate * (m / (1 - 0.9 ** step)) / (numpy.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
        return cls({f: float(w[i]) for f, i in vocab.items() if abs(w[i]) > 1e-4}, float(w[-1]))

    def to_dict(self) -> dict:
        return {"weights": self.weights, "bias": self.bias, "threshold": self.threshold}

    @classmethod
    def from_dict(cls, data: dict) -> "LogisticModel":
        return cls(data["weights"], data["bias"], data["threshold"])


def best_threshold(probs: List[float], labels: List[int]) -> float:
    """The decision threshold with the highest F1 on held-out predictions."""
    best, best_f = 0.5, -1.0
    for t in numpy.arange(0.1, 0.91, 0.05):
        outcomes = Counter((bool(p >= t), bool(y)) for p, y in zip(probs, labels))
        tp, fp, fn = outcomes[True, True], outcomes[True, False], outcomes[False, True]
        f = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f > best_f:
            best, best_f = float(t), f
    return round(best, 2)


def score_flags(examples: Iterable[Example]) -> Dict[str, Optional[float]]:
    """End-to-end flag P/R/F (and gold support): a predicted entity counts
    when its span and label match a gold entity; scores are None when the
    gold data has no polarity annotation."""
    counts = {flag: [0, 0, 0] for flag in FLAGS}  # tp, fp, fn
    annotated = False
    for eg in examples:
        ref = eg.reference
        if not has_gold_flags(ref):
            continue
        annotated = True
        gold = {(e.start_char, e.end_char, e.label_): gold_flags(ref, e) for e in ref.ents}
        predicted = {(e.start_char, e.end_char, e.label_): {
            f for f, on in (("negated", e._.is_negated), ("uncertain", e._.is_uncertain)) if on
        } for e in eg.predicted.ents}
        for flag in FLAGS:
            g = {k for k, v in gold.items() if flag in v}
            p = {k for k, v in predicted.items() if flag in v}
            counts[flag][0] += len(g & p)
            counts[flag][1] += len(p - g)
            counts[flag][2] += len(g - p)
    scores: Dict[str, Optional[float]] = {}
    for flag in FLAGS:
        tp, fp, fn = counts[flag]
        prf = PRFScore(tp=tp, fp=fp, fn=fn)
        for key, value in (("p", prf.precision), ("r", prf.recall), ("f", prf.fscore), ("support", tp + fn)):
            scores[f"{flag}_{key}"] = value if annotated else None
    return scores


class ClinicalContext:
    def __init__(self, nlp: Language, name: str, window: int, use_model: bool, folds: int, l2: float):
        self.nlp = nlp
        self.name = name
        self.window = window
        self.use_model = use_model
        self.folds = folds
        self.l2 = l2
        self.triggers: Dict[str, List[str]] = {key: [] for key in TRIGGER_KEYS}
        self.models: Dict[str, LogisticModel] = {}
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")

    def _build_matcher(self) -> None:
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        for key in TRIGGER_KEYS:
            if self.triggers[key]:
                self.matcher.add(key, list(self.nlp.tokenizer.pipe(self.triggers[key])))

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None,
                   triggers: Optional[str] = None) -> None:
        """Read the trigger file (default: the one shipped for the pipeline's
        language) and fit the classifiers on the gold flags of the training
        examples, if any."""
        path = Path(triggers) if triggers else default_triggers(self.nlp.lang)
        if not path.is_file():
            raise ValueError(f"clinical_context: trigger file {path} not found (set "
                             f"[initialize.components.{self.name}.triggers])")
        self.triggers = load_triggers(path)
        self._build_matcher()
        self.models = {}
        if not self.use_model:
            return
        rows, labels = [], {flag: [] for flag in FLAGS}
        for eg in get_examples():
            ref = eg.reference
            if not has_gold_flags(ref):
                continue
            for ent, feats in zip(ref.ents, self.entity_features(ref)):
                rows.append(feats)
                flags = gold_flags(ref, ent)
                for flag in FLAGS:
                    labels[flag].append(int(flag in flags))
        for flag in FLAGS:
            if sum(labels[flag]) >= 10:
                self.models[flag] = self._fit_with_threshold(rows, labels[flag])

    def _fit_with_threshold(self, rows: List[List[str]], labels: List[int]) -> LogisticModel:
        # Out-of-fold probabilities pick the threshold, so no dev data is used.
        probs = [0.0] * len(rows)
        for fold in range(self.folds):
            train = [i for i in range(len(rows)) if i % self.folds != fold]
            model = LogisticModel.fit([rows[i] for i in train], [labels[i] for i in train], l2=self.l2)
            for i in range(fold, len(rows), self.folds):
                probs[i] = model.probability(rows[i])
        model = LogisticModel.fit(rows, labels, l2=self.l2)
        model.threshold = best_threshold(probs, labels)
        return model

    def _cues(self, doc: Doc) -> List[Tuple[str, int, int, str]]:
        """Trigger matches (key, start, end, text). A match that overlaps a
        pseudo-trigger ("had not" in "had not only") or lies inside a longer
        match ("not" in "could not be excluded") is dropped."""
        matches = [(self.nlp.vocab.strings[m], s, e) for m, s, e in self.matcher(doc)]
        pseudo = [(s, e) for key, s, e in matches if key == "pseudo"]
        cues = []
        for key, s, e in matches:
            if key == "pseudo" or any(ps < e and s < pe for ps, pe in pseudo):
                continue
            if any(os <= s and e <= oe and (oe - os) > (e - s) for _, os, oe in matches):
                continue
            cues.append((key, s, e, doc[s:e].text.lower()))
        return cues

    def entity_features(self, doc: Doc, ents: Optional[Iterable[Span]] = None) -> List[List[str]]:
        ents = list(doc.ents if ents is None else ents)
        if not ents:
            return []
        sent_of = sentence_ids(doc)
        cues = self._cues(doc)
        terminators = [s for key, s, _, _ in cues if key == "terminators"]
        ent_starts = sorted(e.start for e in ents)
        rows = []
        for ent in ents:
            label = ent.label_
            sent = sent_of[ent.start]
            feats = [f"label={label}"]
            for key, s, e, text in cues:
                if key in ("terminators", "pseudo") or sent_of[s] != sent:
                    continue
                kind, direction = key.split("_")
                if direction == "preceding" and e <= ent.start:
                    distance = ent.start - e
                    blocked = any(e <= t < ent.start for t in terminators)
                    between = sum(1 for st in ent_starts if e <= st < ent.start)
                elif direction == "following" and s >= ent.end:
                    distance = s - ent.end
                    blocked = any(ent.end <= t < s for t in terminators)
                    between = sum(1 for st in ent_starts if ent.end <= st < s)
                else:
                    continue
                tag = f"{kind}{'<' if direction == 'preceding' else '>'}"
                if distance > self.window:
                    # Out of the rules' scope, but the classifier may still learn from it.
                    feats += [f"{tag}:far", f"{tag}:far:{text}"]
                    continue
                if blocked:
                    feats.append(f"{tag}:blocked")
                    continue
                feats += [
                    f"cue={kind}", f"cue:{tag}{text}", f"{tag}", f"{tag}:{text}", f"{tag}:d={_bucket(distance)}",
                    f"{tag}:ents_between={min(between, 2)}", f"{tag}&label={label}",
                    f"{tag}:{text}&label={label}",
                ]
            left = [t for t in doc[max(0, ent.start - 8):ent.start] if sent_of[t.i] == sent]
            right = [t for t in doc[ent.end:ent.end + 6] if sent_of[t.i] == sent]
            for side, tokens in (("L", reversed(left)), ("R", right)):
                for k, token in enumerate(tokens, 1):
                    feats += [f"{side}={token.lower_}", f"{side}={token.lower_}&label={label}"]
                    if k <= 3:
                        feats.append(f"{side}{k}={token.lower_}")
            feats += [f"E={token.lower_}" for token in ent]
            rows.append(feats)
        return rows

    def rule_flags(self, feats: List[str]) -> Dict[str, bool]:
        return {"negated": "cue=negation" in feats, "uncertain": "cue=uncertainty" in feats}

    def __call__(self, doc: Doc) -> Doc:
        self.set_flags(doc, doc.ents)
        return doc

    def set_flags(self, doc: Doc, ents: Iterable[Span]) -> None:
        ents = list(ents)
        for ent, feats in zip(ents, self.entity_features(doc, ents)):
            flags = self.rule_flags(feats)
            for flag, model in self.models.items():
                flags[flag] = model.probability(feats) >= model.threshold
            ent._.is_negated = flags["negated"]
            ent._.is_uncertain = flags["uncertain"]
            ent._.context_cues = [f[len("cue:"):] for f in feats if f.startswith("cue:")]

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, Optional[float]]:
        return score_flags(examples)

    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "triggers.json", self.triggers)
        srsly.write_json(path / "models.json", {flag: m.to_dict() for flag, m in self.models.items()})

    def from_disk(self, path, *, exclude=tuple()) -> "ClinicalContext":
        path = ensure_path(path)
        self.triggers = load_triggers(path / "triggers.json")
        self.models = {flag: LogisticModel.from_dict(d) for flag, d in srsly.read_json(path / "models.json").items()}
        self._build_matcher()
        return self


@Language.factory(
    "clinical_context",
    default_config={"window": 8, "use_model": True, "folds": 4, "l2": 3e-4},
    default_score_weights={"negated_f": 0.0, "uncertain_f": 0.0, "negated_p": None, "negated_r": None,
                           "uncertain_p": None, "uncertain_r": None},
)
def make_clinical_context(nlp: Language, name: str, window: int, use_model: bool, folds: int,
                          l2: float) -> ClinicalContext:
    return ClinicalContext(nlp, name, window, use_model, folds, l2)
