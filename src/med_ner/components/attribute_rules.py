"""Attribute mentions of a fixed form: the `attribute_rules` component.

Doses with their unit ("500 mg"), routes ("orally"), dosing frequencies
("three times daily", "q8h") and durations after "for" ("for 7 days": the span
is "7 days") follow patterns that a corpus of 200 case reports shows too
rarely for a trained span model to learn. The component matches token patterns
(shipped as `attribute_patterns/<lang>.json`, or a file of the user's) and adds
each match to `doc.spans[spans_key]`, with a score of 1.0 in the group's
`scores`, except:

- a match that overlaps a span already there is left out (the trained
  `attribute_spans` runs first and keeps its spans), unless it covers only
  spans of the labels its pattern `replaces`, which it then takes the place of
  (a dose per kilogram that the span model read as a LAB_VALUE: "0.4 µg/kg/min"
  after a drug), or lies inside a span it may nest in (`nested`: by default a
  route inside a trained DOSAGE "500 mg orally three times daily", which
  MACCROBAT's dosages include; a nested frequency was measured too and cost
  MACCROBAT dev FREQUENCY 50.0 -> 35.7 F1);
- a match followed by a token its pattern lists in `not_followed_by` is left
  out (a unit that goes on: "5 mg" of "5 mg/L").

The patterns are saved with the component.
"""
from importlib import resources
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy
import srsly
from spacy.language import Language
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span, SpanGroup
from spacy.util import ensure_path


def default_patterns(lang: str) -> Path:
    return Path(str(resources.files("med_ner.components") / "attribute_patterns" / f"{lang}.json"))


def read_patterns(path: Path) -> List[Dict]:
    data = srsly.read_json(path)
    patterns = data.get("patterns") if isinstance(data, dict) else None
    if not isinstance(patterns, list) or not all(isinstance(p, dict) and "label" in p and "pattern" in p
                                                 for p in patterns):
        raise ValueError(f"{path}: a pattern file is {{\"patterns\": [{{\"label\", \"pattern\", \"skip\"?, \"replaces\"?, \"not_followed_by\"?}}, ...]}}")
    return patterns


class AttributeRules:
    def __init__(self, nlp: Language, name: str, spans_key: str, nested: Iterable[Iterable[str]] = ()):
        self.nlp = nlp
        self.name = name
        self.spans_key = spans_key
        self.nested: Dict[str, set] = {}
        for outer, inner in nested:
            self.nested.setdefault(outer, set()).add(inner)
        self.patterns: List[Dict] = []
        self.matcher = Matcher(nlp.vocab)

    def _build(self) -> None:
        self.matcher = Matcher(self.nlp.vocab)
        for i, entry in enumerate(self.patterns):
            self.matcher.add(str(i), [entry["pattern"]])

    def initialize(self, get_examples=None, *, nlp: Optional[Language] = None, patterns: Optional[str] = None):
        path = Path(patterns) if patterns else default_patterns(self.nlp.lang)
        if not path.is_file():
            raise ValueError(f"{self.name}: pattern file {path} not found "
                             f"(set [initialize.components.{self.name}.patterns])")
        self.patterns = read_patterns(path)
        self._build()

    def __call__(self, doc: Doc) -> Doc:
        group = doc.spans.get(self.spans_key)
        spans = list(group) if group is not None else []
        scores = [float(numpy.asarray(x).ravel()[0]) for x in group.attrs.get("scores", [1.0] * len(spans))] \
            if group is not None else []
        taken = {i for span in spans for i in range(span.start, span.end)}
        hosts = [span for span in spans if span.label_ in self.nested]
        added_tokens = set()
        matches = sorted(self.matcher(doc), key=lambda m: (-(m[2] - m[1]), m[1]))  # longest first
        added = False
        for match_id, start, end in matches:
            entry = self.patterns[int(self.nlp.vocab.strings[match_id])]
            start += entry.get("skip", 0)
            if start >= end or any(i in added_tokens for i in range(start, end)):
                continue
            if end < len(doc) and doc[end].text in entry.get("not_followed_by", ()):
                continue
            overlapping = [j for j, span in enumerate(spans) if span.start < end and start < span.end]
            replaces = entry.get("replaces", ())
            if overlapping and all(spans[j].label_ in replaces and start <= spans[j].start and spans[j].end <= end
                                   for j in overlapping):
                for j in reversed(overlapping):
                    taken.difference_update(range(spans[j].start, spans[j].end))
                    del spans[j], scores[j]
            elif any(i in taken for i in range(start, end)) and not any(
                    host.start <= start and end <= host.end and entry["label"] in self.nested[host.label_]
                    for host in hosts):
                continue
            spans.append(Span(doc, start, end, label=entry["label"]))
            scores.append(1.0)
            taken.update(range(start, end))
            added_tokens.update(range(start, end))
            added = True
        if added or group is None:
            order = sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].end))
            new = SpanGroup(doc, name=self.spans_key, spans=[spans[i] for i in order])
            new.attrs["scores"] = numpy.asarray([scores[i] for i in order], dtype="float32")
            doc.spans[self.spans_key] = new
        return doc

    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "patterns.json", {"patterns": self.patterns})

    def from_disk(self, path, *, exclude=tuple()) -> "AttributeRules":
        self.patterns = read_patterns(ensure_path(path) / "patterns.json")
        self._build()
        return self


@Language.factory("attribute_rules", default_config={"spans_key": "attributes",
                                                   "nested": [["DOSAGE", "ROUTE"]]})
def make_attribute_rules(nlp: Language, name: str, spans_key: str, nested: List[List[str]]) -> AttributeRules:
    """`nested`: [label of a span already there, label of a match that may be
    added inside it] pairs ([] never overlaps a span)."""
    return AttributeRules(nlp, name, spans_key, nested)
