"""Analytes in lab results are tests: the `analyte_labels` component.

A lab result names what was measured ("creatinine rose to 2.1 mg/dL",
"ferritin 1700 µg/L"); an entity model trained beside drug corpora can read
such an analyte as a DRUG (BC5CDR's Chemical covers both, and drug
vocabularies list endogenous substances). The component relabels an entity
`from_label` (DRUG) as `to_label` (TEST) when its lowercased text, without a
leading specimen word ("serum", "plasma", ...), is on the analyte list and its
sentence holds a digit. The list is read at `initialize` (default: the one in
the project's assets) and saved with the component. The other extension values
of a relabelled entity (confidence, context flags) are carried over.
"""
import re
from pathlib import Path
from typing import Iterable, Optional, Set

import srsly
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import ensure_path

SPECIMENS = ("serum", "plasma", "blood", "urine", "urinary", "total", "fasting")
# Sentences end at ".", ";" or a line break that is not inside a number.
SENTENCE_END = re.compile(r"(?<!\d)[.;\n]|[.;](?!\d)")


def read_analytes(path: Path) -> Set[str]:
    """One analyte a line, lowercased; blank lines and # comments are ignored."""
    return {line.strip().lower() for line in Path(path).read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")}


def analyte_name(text: str, analytes: Set[str]) -> str:
    """The analyte a mention names ('' for none)."""
    words = text.lower().split()
    while words and words[0] in SPECIMENS:
        words = words[1:]
    name = " ".join(words)
    return name if name in analytes else ""


def sentence_around(text: str, start: int, end: int) -> str:
    left = max((m.end() for m in SENTENCE_END.finditer(text, 0, start)), default=0)
    right = next((m.start() for m in SENTENCE_END.finditer(text, end)), len(text))
    return text[left:right]


def in_lab_result(doc: Doc, span: Span) -> bool:
    return bool(re.search(r"\d", sentence_around(doc.text, span.start_char, span.end_char)))


class AnalyteLabels:
    def __init__(self, nlp: Language, name: str, from_label: str, to_label: str):
        self.name = name
        self.from_label = from_label
        self.to_label = to_label
        self.analytes: Set[str] = set()

    def initialize(self, get_examples=None, *, nlp: Optional[Language] = None, analytes: Optional[str] = None):
        if not analytes or not Path(analytes).is_file():
            raise ValueError(f"{self.name}: the analyte list {analytes!r} is not a file "
                             f"(set [initialize.components.{self.name}.analytes])")
        self.analytes = read_analytes(Path(analytes))

    def __call__(self, doc: Doc) -> Doc:
        changed, ents = False, []
        for ent in doc.ents:
            if ent.label_ == self.from_label and analyte_name(ent.text, self.analytes) and in_lab_result(doc, ent):
                new = Span(doc, ent.start, ent.end, label=self.to_label)
                for name in _stored_extensions():
                    setattr(new._, name, getattr(ent._, name))
                ents.append(new)
                changed = True
            else:
                ents.append(ent)
        if changed:
            doc.ents = ents
        return doc

    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "analytes.json", sorted(self.analytes))

    def from_disk(self, path, *, exclude=tuple()) -> "AnalyteLabels":
        self.analytes = set(srsly.read_json(ensure_path(path) / "analytes.json"))
        return self


def _stored_extensions() -> Iterable[str]:
    """Span extensions that hold a value (not getters or methods)."""
    from spacy.tokens.underscore import Underscore

    return [name for name, (default, method, getter, setter) in Underscore.span_extensions.items()
            if method is None and getter is None]


@Language.factory("analyte_labels", default_config={"from_label": "DRUG", "to_label": "TEST"})
def make_analyte_labels(nlp: Language, name: str, from_label: str, to_label: str) -> AnalyteLabels:
    return AnalyteLabels(nlp, name, from_label, to_label)
