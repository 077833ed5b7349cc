"""Label harmonisation: each corpus's labels mapped onto the release labels,
read from a table (configs/label_harmonisation.yml), never written in code.

A table entry says which release labels the corpus annotates and how its
labels map:

    BC5CDR:
      annotates: [DRUG, DISEASE, SYMPTOM]
      map:
        Chemical: DRUG
        Disease: {default: DISEASE, if_text_in: {SYMPTOM: ../assets/labels/symptom_texts.txt}}

A rule is a release label, null (drop the entity, counted), or a per-mention
rule: `default` unless the lowercased mention text is in the list file of
another label, or of `missing` (the mention is neither that label nor "O": its
tokens are missing in training and its predictions go unscored, counted). A label without a rule passes through when it is a release
label and is an error otherwise. A corpus that annotates fewer than all the
release labels is partially annotated: its tokens outside the gold entities
are unknown, not "O" (see harmonise_doc).
"""
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from spacy.tokens import Doc, Span

from med_ner.corpus.reading import ConversionError, read_text

# Keys in doc.user_data that the mix readers set and the mix scorer reads.
ANNOTATES_KEY = "med_ner.annotates"
CORPUS_KEY = "med_ner.corpus"
# "known-mentions-missing": "O", except the texts that the corpora of the mix which
# annotate a label this corpus does not annotate label with it, which are missing.
OUTSIDE_CHOICES = ("missing", "O", "known-mentions-missing")
# The per-mention rule target that leaves a mention unlabelled (missing) rather than "O".
MISSING = "missing"
# Longest known mention looked up, in tokens.
MAX_KNOWN_MENTION = 8
# Known mentions: lowercased token texts -> the release labels they carry somewhere.
KnownMentions = Dict[Tuple[str, ...], frozenset]


@dataclass
class TextRule:
    """`default`, unless the mention's lowercased text is listed for another label."""

    default: Optional[str]
    by_text: Dict[str, str] = field(default_factory=dict)  # lowercased text -> label

    def label_for(self, text: str) -> Optional[str]:
        return self.by_text.get(normalise_text(text), self.default)


@dataclass
class CorpusLabels:
    """One corpus's row of the harmonisation table."""

    name: str
    annotates: List[str]
    release_labels: List[str]
    rules: Dict[str, TextRule]
    source: str = "(table)"
    # Entities each source label lost to a null rule, and those left missing, counted as documents are harmonised.
    dropped: Counter = field(default_factory=Counter)
    left_missing: Counter = field(default_factory=Counter)

    @property
    def partial(self) -> bool:
        return set(self.annotates) != set(self.release_labels)

    def release_label(self, label: str, text: str) -> Optional[str]:
        """The release label of one gold mention, None when the table drops it, or MISSING."""
        if label in self.rules:
            return self.rules[label].label_for(text)
        if label in self.release_labels:
            return label
        raise ValueError(f"{self.source}: corpus {self.name!r} has label {label!r}, which is neither a release "
                         f"label nor in its map (known: {', '.join(sorted(self.rules))})")

    def describe(self) -> Dict:
        """The label map as it goes into the package meta."""
        described = {label: {"default": rule.default, "if_text_in": {
            lab: f"{n} listed mention texts" for lab, n in sorted(Counter(rule.by_text.values()).items())}}
            if rule.by_text else rule.default for label, rule in self.rules.items()}
        return {"annotates": list(self.annotates), "map": described,
                "outside_gold_entities": ("partial: read as the training config's corpora.train.outside says"
                                          if self.partial else "O")}


def normalise_text(text: str) -> str:
    return " ".join(text.lower().split())


def read_text_list(path: Path) -> List[str]:
    """One mention text a line; blank lines and # comments are ignored."""
    lines = read_text(path).splitlines()
    return [normalise_text(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _yaml_with_lines(path: Path):
    from srsly.ruamel_yaml import YAML

    try:
        return YAML().load(read_text(path))
    except Exception as err:  # ruamel's parser errors carry the line in their message
        raise ConversionError(path, f"invalid YAML: {err}") from None


def _line(node, key) -> Optional[int]:
    try:
        return node.lc.key(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return None


def load_harmonisation(path: Path) -> Dict[str, CorpusLabels]:
    """Read the table; its list files are relative to the table's folder, so it reads the same from any directory."""
    path = Path(path)
    base = path.parent
    data = _yaml_with_lines(path)
    if not isinstance(data, dict) or not isinstance(data.get("release_labels"), list) \
            or not isinstance(data.get("corpora"), dict):
        raise ConversionError(path, "the table needs a 'release_labels' list and a 'corpora' mapping")
    release = [str(label) for label in data["release_labels"]]
    table = {}
    for name, entry in data["corpora"].items():
        line = _line(data["corpora"], name)
        if not isinstance(entry, dict) or not isinstance(entry.get("annotates"), list):
            raise ConversionError(path, f"corpus {name!r} needs an 'annotates' list of release labels", line=line)
        unknown = [label for label in entry["annotates"] if label not in release]
        if unknown:
            raise ConversionError(path, f"corpus {name!r} annotates {unknown}, which are not release labels", line=line)
        mapping = entry.get("map") or {}
        rules = {str(label): _parse_rule(rule, release, path, _line(mapping, label), f"{name}.{label}", base)
                 for label, rule in mapping.items()}
        mapped = {r.default for r in rules.values()} | {lab for r in rules.values() for lab in r.by_text.values()}
        stray = sorted(lab for lab in mapped if lab not in (None, MISSING) and lab not in entry["annotates"])
        if stray:
            raise ConversionError(path, f"corpus {name!r} maps onto {stray} but 'annotates' does not list them",
                                  line=line)
        table[str(name)] = CorpusLabels(str(name), [str(x) for x in entry["annotates"]], release, rules,
                                        source=str(path))
    return table


def _parse_rule(rule, release: List[str], path: Path, line: Optional[int], where: str, base: Path) -> TextRule:
    if rule is None or isinstance(rule, str):
        if rule is not None and rule not in release:
            raise ConversionError(path, f"{where}: {rule!r} is not a release label", line=line)
        return TextRule(rule)
    if not isinstance(rule, dict) or "default" not in rule or set(rule) - {"default", "if_text_in"}:
        raise ConversionError(path, f"{where}: a rule is a release label, null, or "
                                    "{default: LABEL, if_text_in: {LABEL: list file}}", line=line)
    by_text: Dict[str, str] = {}
    for label, list_path in (rule.get("if_text_in") or {}).items():
        if label not in release and label != MISSING:
            raise ConversionError(path, f"{where}: if_text_in label {label!r} is neither a release label nor "
                                        f"{MISSING!r}", line=line)
        for text in read_text_list(base / list_path):
            if by_text.get(text, label) != label:
                raise ConversionError(path, f"{where}: {text!r} is listed for both {by_text[text]} and {label}",
                                      line=line)
            by_text[text] = label
    default = rule["default"]
    if default is not None and default not in release:
        raise ConversionError(path, f"{where}: default {default!r} is not a release label", line=line)
    return TextRule(default, by_text)


def known_mentions(docs: Iterable[Doc], min_rate: float = 0.5, labels: Optional[Iterable[str]] = None) -> KnownMentions:
    """The entity texts of gold docs (as lowercased token sequences) with their
    labels, kept where the text is an entity in at least `min_rate` of its
    occurrences there (so "be" or "results", an entity once in a while, is not).
    `labels`: only entities of these labels count (default: all)."""
    docs = list(docs)
    wanted = None if labels is None else set(labels)
    mentions: Dict[Tuple[str, ...], Counter] = {}
    for doc in docs:
        for ent in doc.ents:
            if len(ent) <= MAX_KNOWN_MENTION and (wanted is None or ent.label_ in wanted):
                mentions.setdefault(tuple(t.text.lower() for t in ent), Counter())[ent.label_] += 1
    occurrences: Counter = Counter()
    for doc in docs:
        lower = [t.text.lower() for t in doc]
        for i in range(len(lower)):
            for n in range(1, min(MAX_KNOWN_MENTION, len(lower) - i) + 1):
                key = tuple(lower[i:i + n])
                if key in mentions:
                    occurrences[key] += 1
    return {key: frozenset(labs) for key, labs in mentions.items()
            if sum(labs.values()) >= min_rate * occurrences[key]}


def merge_known(parts: Iterable[KnownMentions]) -> KnownMentions:
    merged: Dict[Tuple[str, ...], frozenset] = {}
    for part in parts:
        for key, labs in part.items():
            merged[key] = merged.get(key, frozenset()) | labs
    return merged


def unannotated_mentions(doc: Doc, known: KnownMentions, annotates: Iterable[str], skip: set) -> List[Span]:
    """Greedy longest matches of known mentions carrying a label outside `annotates`,
    over tokens not in `skip` (the gold entities)."""
    annotated = set(annotates)
    lower = [t.text.lower() for t in doc]
    spans, i = [], 0
    while i < len(doc):
        for n in range(min(MAX_KNOWN_MENTION, len(doc) - i), 0, -1):
            labs = known.get(tuple(lower[i:i + n]))
            if labs and labs - annotated and not any(j in skip for j in range(i, i + n)):
                spans.append(doc[i:i + n])
                i += n
                break
        else:
            i += 1
    return spans


def harmonise_doc(doc: Doc, labels: CorpusLabels, outside: Optional[str] = None,
                  known: Optional[KnownMentions] = None) -> Doc:
    """Relabel the doc's entities through the table (in place) and mark it with
    its corpus and annotated labels. Tokens outside the entities become
    `outside`: "missing" (spaCy's NER takes no loss there), "O", or
    "known-mentions-missing" ("O", except matches of `known` that carry a
    label this corpus does not annotate: missing); the default is "missing"
    for a partially annotated corpus. Tokens that were already missing stay
    missing."""
    outside = outside or ("missing" if labels.partial else "O")
    if outside not in OUTSIDE_CHOICES:
        raise ValueError(f"outside must be one of {OUTSIDE_CHOICES}, not {outside!r}")
    if outside == "known-mentions-missing" and known is None:
        raise ValueError("outside 'known-mentions-missing' needs the known mentions of a fully annotated corpus")
    entities, left_missing = [], []
    for ent in doc.ents:
        label = labels.release_label(ent.label_, ent.text)
        if label is None:
            labels.dropped[ent.label_] += 1
            continue
        if label == MISSING:
            labels.left_missing[ent.label_] += 1
            left_missing.append(doc[ent.start:ent.end])
            continue
        entities.append(Span(doc, ent.start, ent.end, label=label))
    already_missing = [doc[i:i + 1] for i, token in enumerate(doc) if token.ent_iob == 0] \
        if doc.has_annotation("ENT_IOB") else []
    if outside == "missing":
        doc.set_ents(entities, default="missing")
    else:
        inside = {i for span in entities for i in range(span.start, span.end)}
        missing = [s for s in already_missing if s.start not in inside] + left_missing
        inside |= {i for span in left_missing for i in range(span.start, span.end)}
        if outside == "known-mentions-missing":
            missing += unannotated_mentions(doc, known, labels.annotates, inside | {s.start for s in missing})
        doc.set_ents(entities, missing=missing, default="outside")
    doc.user_data[ANNOTATES_KEY] = list(labels.annotates)
    doc.user_data[CORPUS_KEY] = labels.name
    return doc
