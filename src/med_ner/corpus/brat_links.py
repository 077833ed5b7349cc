"""BRAT relation lines, and the attribute spans and MODIFY links that
`convert_brat` keeps with its `attributes` option (the policies are in the
docstring of med_ner.corpus.brat).

Attribute spans go to `doc.spans["attributes"]`; links go to
`doc.user_data["links"]` as `[mod_start, mod_end, head_start, head_end]`
character offsets into the Doc's text, sorted and without duplicates.
"""
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span

from med_ner.corpus.conversion import ConversionReport, LabelMap, SourceSpan, make_spans, remove_overlaps
from med_ner.corpus.reading import ConversionError

ATTRIBUTES_KEY = "attributes"
LINKS_KEY = "links"
MODIFY = "MODIFY"
MODIFIER_ENTITY = "BODY_PART"  # the one entity label that may modify another entity
NO_HEAD = "head not a kept entity"
NO_MODIFIER = "modifier not a kept attribute or body part"
ACROSS = "modifier and head in different documents"
SELF = "modifier is the head"
DUPLICATE = "duplicate"


@dataclass
class Relation:
    id: str
    type: str
    arg1: str  # T id (an E id is read as its trigger)
    arg2: str
    line: int


def parse_relation(line: str, path: Path, line_no: int) -> Relation:
    """An R line, `R<n>\\t<type> Arg1:<id> Arg2:<id>`; ids are resolved later."""
    parts = line.split("\t")
    fields = parts[1].split() if len(parts) == 2 else []
    roles = dict(f.split(":", 1) for f in fields[1:] if ":" in f)
    if len(fields) != 3 or set(roles) != {"Arg1", "Arg2"} or not all(roles.values()):
        raise ConversionError(path, f"an R line is '<id>\\t<type> Arg1:<id> Arg2:<id>': {line!r}", line=line_no)
    return Relation(parts[0], fields[0], roles["Arg1"], roles["Arg2"], line_no)


def resolve_relations(relations: Sequence[Relation], textbounds, events: Dict[str, Tuple[str, int]],
                      path: Path) -> List[Relation]:
    """Each relation with its arguments as T ids; an unknown id or an R id
    used twice is an error naming the line."""
    seen: Dict[str, int] = {}
    resolved = []
    for rel in relations:
        if rel.id in seen:
            raise ConversionError(path, f"id {rel.id} is used twice (first on line {seen[rel.id]})", line=rel.line)
        seen[rel.id] = rel.line
        args = []
        for role, arg in (("Arg1", rel.arg1), ("Arg2", rel.arg2)):
            if arg in textbounds:
                args.append(arg)
            elif arg in events:
                args.append(events[arg][0])
            else:
                raise ConversionError(path, f"relation {rel.id} ({rel.type}) has {role} {arg!r}, which is not a "
                                            f"T or E annotation", line=rel.line)
        resolved.append(Relation(rel.id, rel.type, args[0], args[1], rel.line))
    return resolved


def _ids_to_kept(spans, kept) -> Dict[str, Span]:
    """T id -> kept span, for the kept spans and for the losers with the exact
    token span of a kept one (the same mention annotated twice)."""
    by_tokens = {(span.start, span.end): span for span, _ in kept}
    return {src.ann_id: by_tokens[(span.start, span.end)] for span, src in spans
            if (span.start, span.end) in by_tokens}


class AttributeLinks:
    """Attribute spans and MODIFY links across the documents of one conversion."""

    def __init__(self, label_map: LabelMap):
        self.label_map = label_map
        self.notes = ConversionReport("attribute spans")  # drops and changes, as make_spans reports them
        self.read = 0
        self.out: Counter = Counter()
        self.links: Counter = Counter({"read": 0, "kept": 0})
        self.link_drops: List[Dict] = []
        self.ignored_relations: Counter = Counter()
        self._entities: Dict[str, Tuple[Doc, Span]] = {}
        self._modifiers: Dict[str, Tuple[Doc, Span]] = {}
        self._docs: List[Doc] = []

    def label(self, source_type: str, path, line: int) -> Optional[str]:
        """The attribute label of a T line's type, or None (not an attribute)."""
        label = self.label_map.map(source_type, path, line)
        self.read += label is not None
        return label

    def add_doc(self, doc: Doc, attribute_spans: Sequence[SourceSpan], entity_spans, kept_entities, path,
                misaligned: str) -> None:
        """Set the Doc's attribute spans (longest wins, as for entities) and
        remember which T ids became which kept span."""
        spans = make_spans(doc, attribute_spans, path, self.notes, misaligned)
        kept = remove_overlaps(spans, path, self.notes)
        doc.spans[ATTRIBUTES_KEY] = [span for span, _ in kept]
        self.out.update(span.label_ for span, _ in kept)
        doc.user_data[LINKS_KEY] = []
        for tid, span in _ids_to_kept(entity_spans, kept_entities).items():
            self._entities[tid] = (doc, span)
            if span.label_ == MODIFIER_ENTITY:
                self._modifiers[tid] = (doc, span)
        self._modifiers.update((tid, (doc, span)) for tid, span in _ids_to_kept(spans, kept).items())
        self._docs.append(doc)

    def link(self, relations: Sequence[Relation], path) -> List[Relation]:
        """Store the kept MODIFY links of one .ann file's Docs; the relations
        of other types are returned (the caller counts them as ignored)."""
        others = []
        found: Dict[int, set] = {id(doc): set() for doc in self._docs}
        for rel in relations:
            if rel.type != MODIFY:
                self.ignored_relations[rel.type] += 1
                others.append(rel)
                continue
            self.links["read"] += 1
            head, modifier = self._entities.get(rel.arg2), self._modifiers.get(rel.arg1)
            if head is None:
                reason = NO_HEAD
            elif modifier is None:
                reason = NO_MODIFIER
            elif head[0] is not modifier[0]:
                reason = ACROSS
            else:
                (doc, head_span), (_, mod_span) = head, modifier
                key = (mod_span.start_char, mod_span.end_char, head_span.start_char, head_span.end_char)
                if (mod_span.start, mod_span.end) == (head_span.start, head_span.end):
                    reason = SELF
                elif key in found[id(doc)]:
                    reason = DUPLICATE
                else:
                    found[id(doc)].add(key)
                    self.links["kept"] += 1
                    continue
            self.links[reason] += 1
            self.link_drops.append({"file": str(path), "line": rel.line, "relation": rel.id, "reason": reason})
        for doc in self._docs:
            doc.user_data[LINKS_KEY] = [list(key) for key in sorted(found[id(doc)])]
        self._entities, self._modifiers, self._docs = {}, {}, []
        return others

    def write_notes(self, report: ConversionReport) -> None:
        dropped = Counter(note.reason.split(":", 1)[0] for note in self.notes.dropped)
        report.notes["attribute_spans"] = {"read": self.read, "kept": sum(self.out.values()), **dropped}
        report.notes["attributes_out"] = dict(sorted(self.out.items()))
        report.notes["attribute_span_notes"] = {
            "dropped": [asdict(note) for note in self.notes.dropped],
            "changed": [asdict(note) for note in self.notes.changed],
        }
        report.notes["links"] = dict(self.links)
        report.notes["link_drops"] = self.link_drops
        report.notes["ignored_relations"] = dict(sorted(self.ignored_relations.items()))
