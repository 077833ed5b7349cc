"""Mention replacement for training: swap gold mentions for other names of the same label.

A model that has seen "metformin" as DRUG in 40 contexts learns the word, not
the context. Replacing a share of gold mentions with other names of the same
label (from the curated vocabularies, `med-ner vocab`, and from the mentions the
reader has already yielded) keeps the context and the label and changes the
surface form, so the NER has to read the context. This is the "mention
replacement" augmentation of Dai & Adel (2020, "An analysis of simple data
augmentation for named entity recognition").

The transform works on reference docs before spaCy's Corpus turns them into
examples, so the predicted doc is tokenised from the new text as usual. Tokens
outside the replaced mentions keep their annotation: "O" stays "O" and missing
stays missing, which partially annotated corpora rely on.
"""
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import spacy
from spacy.tokens import Doc


class AugmentError(ValueError):
    pass


def load_term_names(path: Path, max_words: int) -> Dict[str, List[str]]:
    """Names per label from a `med-ner vocab` terms file (JSONL with "term" and "type").
    Names longer than `max_words` words, or holding quotes, brackets or commas, are left out:
    a vocabulary's long descriptive titles are not how text names things."""
    if not path.is_file():
        raise AugmentError(f"{path}: terms file not found (build it with `python -m med_ner vocab --output vocab`)")
    names: Dict[str, set] = defaultdict(set)
    with path.open(encoding="utf8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                term, label = row["term"], row["type"]
            except (ValueError, KeyError, TypeError) as err:
                raise AugmentError(f"{path}:{number}: not a terms row with \"term\" and \"type\" ({err})") from None
            term = " ".join(str(term).split())
            if term and len(term.split()) <= max_words \
                    and not any(c in term for c in "'\",()[]{}<>;"):
                names[label].add(term)
    if not names:
        raise AugmentError(f"{path}: no names (rows of at most {max_words} words, without quotes, brackets or commas)")
    return {label: sorted(found) for label, found in names.items()}


def match_case(name: str, original: str) -> str:
    """The replacement written in the original mention's case style."""
    if original.islower():
        return name.lower()
    if original.isupper() and len(original) > 1:
        return name.upper()
    if original[:1].isupper():
        return name[:1].upper() + name[1:]
    return name


class MentionReplacement:
    """Callable on (doc, rng): the doc, or a new doc with some of its gold mentions replaced.

    - `level`: share of docs that are changed at all;
    - `rate`: in a changed doc, share of its mentions that are replaced;
    - `terms_share`: share of replacements drawn from the vocabulary names of the
      label (where the vocabulary has the label); the rest come from mentions of the
      label in docs the reader has already yielded (at most `pool_size` per label).
    """

    def __init__(self, terms: Optional[Path], level: float = 0.5, rate: float = 0.3, terms_share: float = 0.5,
                 max_words: int = 4, pool_size: int = 20000):
        for name, value in (("level", level), ("rate", rate), ("terms_share", terms_share)):
            if not 0.0 <= value <= 1.0:
                raise AugmentError(f"mention replacement: {name} must be between 0 and 1, not {value}")
        if max_words < 1 or pool_size < 1:
            raise AugmentError(f"mention replacement: max_words and pool_size must be positive, "
                               f"not {max_words} and {pool_size}")
        self.level, self.rate, self.terms_share, self.pool_size = level, rate, terms_share, pool_size
        self.term_names = load_term_names(Path(terms), max_words) if terms else {}
        self.seen: Dict[str, List[str]] = defaultdict(list)
        self.tokenizer = spacy.blank("en").tokenizer
        self.replaced = 0

    def remember(self, doc: Doc, rng: random.Random) -> None:
        for ent in doc.ents:
            pool = self.seen[ent.label_]
            if len(pool) < self.pool_size:
                pool.append(ent.text)
            else:
                pool[rng.randrange(self.pool_size)] = ent.text

    def name_for(self, label: str, original: str, rng: random.Random) -> Optional[str]:
        terms, seen = self.term_names.get(label), self.seen.get(label)
        pool: Optional[Sequence[str]] = terms if terms and (not seen or rng.random() < self.terms_share) else seen
        if not pool:
            return None
        name = pool[rng.randrange(len(pool))]
        return None if name.lower() == original.lower() else match_case(name, original)

    def __call__(self, doc: Doc, rng: random.Random) -> Doc:
        changed = doc
        if doc.ents and rng.random() < self.level:
            chosen = {ent.start: name for ent in doc.ents if rng.random() < self.rate
                      for name in [self.name_for(ent.label_, ent.text, rng)] if name}
            if chosen:
                changed = self.replace(doc, chosen)
        self.remember(doc, rng)
        return changed

    def replace(self, doc: Doc, chosen: Dict[int, str]) -> Doc:
        words: List[str] = []
        spaces: List[bool] = []
        iob: List[str] = []
        sent_starts: List[Optional[bool]] = []
        has_sents = doc.has_annotation("SENT_START")
        starts = {ent.start: ent for ent in doc.ents}
        i = 0
        while i < len(doc):
            ent = starts.get(i)
            if ent is not None and i in chosen:
                new = self.tokenizer(chosen[i])
                for k, token in enumerate(new):
                    words.append(token.text)
                    last = k == len(new) - 1
                    spaces.append(bool(doc[ent.end - 1].whitespace_) if last else bool(token.whitespace_))
                    iob.append(("B-" if k == 0 else "I-") + ent.label_)
                    sent_starts.append(doc[i].is_sent_start if k == 0 else False)
                self.replaced += 1
                i = ent.end
                continue
            token = doc[i]
            words.append(token.text)
            spaces.append(bool(token.whitespace_))
            iob.append("" if token.ent_iob == 0 else "O" if token.ent_iob == 2 else f"{token.ent_iob_}-{token.ent_type_}")
            sent_starts.append(token.is_sent_start)
            i += 1
        new_doc = Doc(doc.vocab, words=words, spaces=spaces, ents=iob,
                      sent_starts=sent_starts if has_sents else None)
        new_doc.user_data.update(doc.user_data)
        return new_doc


@spacy.registry.misc("en_med_ner.MentionReplacement.v1")
def create_mention_replacement(terms: Optional[str] = None, level: float = 0.5, rate: float = 0.3,
                               terms_share: float = 0.5, max_words: int = 4,
                               pool_size: int = 20000) -> MentionReplacement:
    return MentionReplacement(Path(terms) if terms else None, level, rate, terms_share, max_words, pool_size)
