"""What every converter shares: option checks, label maps, the overlap policy
for NER spans, and the conversion report (reading input: med_ner.corpus.reading).

A converter never drops or alters an entity without a line in the report, and
the report checks that every entity read is either written or listed as dropped.
"""
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.tokens import Doc, DocBin, Span

from med_ner.corpus.reading import ConversionError, read_text


# The values each converter option takes, one home for the CLI's checks and
# the corpus table's (configs/corpora.yml).
OPTION_CHOICES = {
    "misaligned": ("expand", "contract", "error"),
    "scheme": ("auto", "iob1", "iob2"),
    "sep": ("auto", "tab", "space"),
}
BOOL_OPTIONS = ("split_sentences", "one_doc_per_line", "annotated_lines_only")
INT_OPTIONS = {"n_sents": 1, "token_column": None, "tag_column": None}  # name: least value (None: any)
PATH_OPTIONS = ("attributes",)  # a file, relative to the project root; None: not set


def option_problem(name: str, value) -> Optional[str]:
    """Why `value` is not a value of converter option `name`, or None."""
    if name in OPTION_CHOICES and value not in OPTION_CHOICES[name]:
        return f"{name} must be {', '.join(OPTION_CHOICES[name][:-1])} or {OPTION_CHOICES[name][-1]}, not {value!r}"
    if name in PATH_OPTIONS and value is not None and (not isinstance(value, (str, Path)) or not str(value)):
        return f"{name} must be the path of a file, not {value!r}"
    if name in BOOL_OPTIONS and not isinstance(value, bool):
        return f"{name} must be true or false, not {value!r}"
    if name in INT_OPTIONS:
        least = INT_OPTIONS[name]
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{name} must be an integer, not {value!r}"
        if least is not None and value < least:
            return f"{name} must be at least {least}, not {value}"
    return None


def check_options(**options) -> None:
    """Converter options checked by value before any work; an error names the
    option as the command line spells it."""
    for name, value in options.items():
        problem = option_problem(name, value)
        if problem is not None:
            raise ConversionError(f"--{name.replace('_', '-')}", problem.split(" ", 1)[1])


class LabelMap:
    """Maps source labels to project labels, from a JSON file:

    {"labels": ["DISEASE", ...], "map": {"Disease_disorder": "DISEASE", "Date": null}}

    A label in `labels` maps to itself; `null` in `map` drops the label (the
    report lists each such entity); any other label is an error. Without a file
    every label passes through unchanged.
    """

    def __init__(self, labels: Optional[Iterable[str]] = None, mapping: Optional[Dict[str, Optional[str]]] = None, source: str = "(none)"):
        self.labels = list(labels) if labels is not None else None
        self.mapping = dict(mapping or {})
        self.source = source
        if self.labels is not None:
            for src, dst in self.mapping.items():
                if dst is not None and dst not in self.labels:
                    raise ConversionError(source, f"map sends {src!r} to {dst!r}, which is not in 'labels'")

    @classmethod
    def from_file(cls, path: Optional[Path]) -> "LabelMap":
        if path is None:
            return cls()
        from med_ner import strict_json

        text = read_text(path)
        try:
            data = strict_json.loads(text)
        except json.JSONDecodeError as err:
            raise ConversionError(path, f"invalid JSON: {err.msg}", line=err.lineno) from None
        except strict_json.StrictJSONError as err:
            raise ConversionError(path, str(err), line=strict_json.line_of(text, err)) from None
        if not isinstance(data, dict) or not isinstance(data.get("labels"), list):
            raise ConversionError(path, "a label map is an object with a 'labels' list and an optional 'map' object")
        for label in data["labels"]:
            if not isinstance(label, str) or not label:
                raise ConversionError(path, f"'labels' holds {label!r}; a label is a non-empty string")
        mapping = data.get("map", {})
        if not isinstance(mapping, dict):
            raise ConversionError(path, f"'map' must be an object from source label to label or null, "
                                        f"not {type(mapping).__name__}")
        for src, dst in mapping.items():
            if dst is not None and not isinstance(dst, str):
                raise ConversionError(path, f"map sends {src!r} to {dst!r}; a target is a label string or null")
        return cls(data["labels"], mapping, source=str(path))

    def map(self, label: str, path, line: Optional[int]) -> Optional[str]:
        """The project label for `label`, or None if the map drops it."""
        if label in self.mapping:
            return self.mapping[label]
        if self.labels is None or label in self.labels:
            return label
        raise ConversionError(
            path, f"unknown label {label!r} (not in label map {self.source}; known: {', '.join(self.known)})", line=line
        )

    @property
    def known(self) -> List[str]:
        return sorted(set(self.labels or []) | set(self.mapping))


@dataclass
class EntityNote:
    """One entity that a converter dropped or changed, and why."""

    file: str
    line: Optional[int]
    label: str
    text: str
    start: int
    end: int
    reason: str
    new_label: Optional[str] = None
    new_text: Optional[str] = None


@dataclass
class ConversionReport:
    """Counts in and out, and every entity dropped or changed."""

    converter: str
    sources: List[str] = field(default_factory=list)
    output: str = ""
    documents_in: int = 0
    documents_out: int = 0
    tokens: int = 0
    entities_in: Counter = field(default_factory=Counter)
    entities_out: Counter = field(default_factory=Counter)
    dropped: List[EntityNote] = field(default_factory=list)
    changed: List[EntityNote] = field(default_factory=list)
    skipped_documents: List[Dict] = field(default_factory=list)
    notes: Dict[str, object] = field(default_factory=dict)

    def read_entity(self, label: str) -> None:
        self.entities_in[label] += 1

    def drop(self, note: EntityNote) -> None:
        self.dropped.append(note)

    def change(self, note: EntityNote) -> None:
        self.changed.append(note)

    def add_doc(self, doc: Doc) -> None:
        self.documents_out += 1
        self.tokens += len(doc)
        self.entities_out.update(ent.label_ for ent in doc.ents)

    def check(self) -> None:
        """Every entity read is written or listed as dropped."""
        n_in, n_out = sum(self.entities_in.values()), sum(self.entities_out.values())
        if n_in != n_out + len(self.dropped):
            raise AssertionError(
                f"{self.converter}: {n_in} entities read but {n_out} written and "
                f"{len(self.dropped)} reported dropped"
            )
        for name in ("attribute_spans", "links"):  # {"read": n, "kept": n, <reason>: n, ...}
            counts = self.notes.get(name)
            if counts is not None and counts["read"] != sum(counts.values()) - counts["read"]:
                raise AssertionError(f"{self.converter}: {name} do not add up: {counts}")
        if self.documents_in != self.documents_out + len(self.skipped_documents):
            raise AssertionError(
                f"{self.converter}: {self.documents_in} documents read but {self.documents_out} "
                f"written and {len(self.skipped_documents)} reported skipped"
            )

    def to_dict(self) -> Dict:
        data = asdict(self)
        data["entities_in"] = dict(sorted(self.entities_in.items()))
        data["entities_out"] = dict(sorted(self.entities_out.items()))
        data["dropped_by_reason"] = dict(Counter(_reason_kind(n.reason) for n in self.dropped))
        data["changed_by_reason"] = dict(Counter(_reason_kind(n.reason) for n in self.changed))
        return data

    def write(self, path: Path) -> None:
        from med_ner.outputs import write_json

        self.check()
        write_json(path, self.to_dict(), "report")

    def summary(self) -> str:
        return "\n".join([
            f"{self.converter}: {self.documents_in} documents in, {self.documents_out} out "
            f"({len(self.skipped_documents)} skipped), {self.tokens} tokens",
            f"  entities in:  {dict(sorted(self.entities_in.items()))}",
            f"  entities out: {dict(sorted(self.entities_out.items()))}",
            f"  dropped: {len(self.dropped)} {dict(Counter(_reason_kind(n.reason) for n in self.dropped))}",
            f"  changed: {len(self.changed)} {dict(Counter(_reason_kind(n.reason) for n in self.changed))}",
        ])


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0]


@dataclass
class SourceSpan:
    """An entity as read from the source, before it becomes a spaCy span."""

    start: int
    end: int
    label: str
    line: Optional[int]
    attrs: Dict[str, str] = field(default_factory=dict)


def make_spans(doc: Doc, spans: Sequence[SourceSpan], path, report: ConversionReport,
               misaligned: str = "expand") -> List[Tuple[Span, SourceSpan]]:
    """Turn character spans into token spans, trimming whitespace and applying
    the `misaligned` policy ("expand", "contract" or "error") to spans whose
    edges fall inside a token. Every change or drop goes into the report."""
    text = doc.text
    out = []
    for src in spans:
        start, end = src.start, src.end
        original = text[start:end]
        stripped_start = start + (len(original) - len(original.lstrip()))
        stripped_end = end - (len(original) - len(original.rstrip()))
        if stripped_start >= stripped_end:
            report.drop(EntityNote(str(path), src.line, src.label, original, start, end, "empty: span holds only whitespace"))
            continue
        if (stripped_start, stripped_end) != (start, end):
            report.change(EntityNote(
                str(path), src.line, src.label, original, start, end,
                "whitespace: leading/trailing whitespace trimmed", new_text=text[stripped_start:stripped_end],
            ))
            start, end = stripped_start, stripped_end
        span = doc.char_span(start, end, label=src.label, alignment_mode="strict")
        if span is None:
            if misaligned == "error":
                raise ConversionError(
                    path,
                    f"{src.label} span [{start}:{end}] {text[start:end]!r} does not align to token boundaries "
                    f"(tokens here: {[t.text for t in doc.char_span(start, end, alignment_mode='expand')]})",
                    line=src.line, offset=start,
                )
            span = doc.char_span(start, end, label=src.label, alignment_mode=misaligned)
            if span is None or len(span) == 0:
                report.drop(EntityNote(
                    str(path), src.line, src.label, text[start:end], start, end,
                    f"misaligned: no token lies inside the span ({misaligned})",
                ))
                continue
            report.change(EntityNote(
                str(path), src.line, src.label, text[start:end], start, end,
                f"misaligned: span edges inside a token, {misaligned}ed to token boundaries", new_text=span.text,
            ))
        out.append((span, src))
    return out


def remove_overlaps(spans: List[Tuple[Span, SourceSpan]], path, report: ConversionReport,
                    carried: Optional[List[SourceSpan]] = None) -> List[Tuple[Span, SourceSpan]]:
    """A token can hold one entity: keep the longest span (then the earliest),
    and report each span that loses to an overlapping one. A loser with the
    exact span of the winner is the same mention: its attributes the winner
    lacks (e.g. a POLARITY annotated on one copy only) are carried over, said
    in its report line, and the loser is appended to `carried`."""
    order = sorted(spans, key=lambda item: (-(item[0].end - item[0].start), item[0].start))
    taken = set()
    kept = []
    for span, src in order:
        tokens = set(range(span.start, span.end))
        if tokens & taken:
            winner, winner_src = next((s, w) for s, w in kept if s.start < span.end and span.start < s.end)
            same = (winner.start, winner.end) == (span.start, span.end)
            reason = (f"{'duplicate' if same else 'overlap'}: overlaps {winner.label_} {winner.text!r} "
                      f"[{winner.start_char}:{winner.end_char}], which was kept (longest span wins)")
            if same and src.attrs:
                reason += _carry_attributes(src, winner_src)
                if carried is not None and all(winner_src.attrs.get(k) == v for k, v in src.attrs.items()):
                    carried.append(src)
            report.drop(EntityNote(str(path), src.line, span.label_, span.text, span.start_char, span.end_char, reason))
            continue
        taken |= tokens
        kept.append((span, src))
    return sorted(kept, key=lambda item: item[0].start)


def _carry_attributes(loser: SourceSpan, winner: SourceSpan) -> str:
    """Copy the loser's attributes the winner lacks; the words for the report."""
    new = {k: v for k, v in loser.attrs.items() if k not in winner.attrs}
    clash = {k: v for k, v in loser.attrs.items() if k in winner.attrs and winner.attrs[k] != v}
    winner.attrs.update(new)
    words = ""
    if new:
        words += "; carried over to the kept span: " + ", ".join(f"{k}={v!r}" for k, v in new.items())
    if clash:
        words += "; not carried over (the kept span says otherwise): " + ", ".join(f"{k}={v!r}" for k, v in clash.items())
    return words


def write_docbin(docs: Sequence[Doc], path: Path, source) -> int:
    """Write the Docs converted from `source`; converting nothing is an error
    (an empty DocBin would only fail later, in training or evaluation)."""
    if not docs:
        raise ConversionError(source, "no documents to write (every record was empty or skipped)")
    from med_ner.outputs import atomic_path

    data = DocBin(docs=docs, store_user_data=True).to_bytes()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return len(docs)


def default_report_path(output: Path) -> Path:
    output = Path(output)
    return output.parent / "reports" / f"{output.stem}.json"
