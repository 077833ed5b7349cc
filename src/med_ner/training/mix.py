"""Training over a mix of corpora, described in config:

- `en_med_ner.CorpusMix.v1`: the train reader. Draws each example's corpus by
  the per-corpus weights (sampling proportions), harmonises its labels
  through the table, and sets tokens outside the gold entities of a partially
  annotated corpus to missing (or, per corpus, to "O" or
  "known-mentions-missing"). One call yields one epoch of `epoch_size`
  examples (default: the total size of the corpora); epoch k is a function of
  (seed, k) alone. Streaming: each corpus is read pass by pass from its DocBin
  through a shuffle buffer, so no corpus is held as a list of Docs. Use it
  with `[training] max_epochs = -1`, which makes spaCy call the reader once
  per epoch instead of listing and shuffling it.
- `en_med_ner.CorpusUnion.v1`: the dev (or test) reader. Every document of
  each corpus's split, in order, harmonised, with "O" outside the entities
  and the corpus's annotated labels in doc.user_data, which the mix scorer
  (med_ner.training.scorer) uses to score only those labels. `limit`
  keeps the first n documents of a corpus (a cheaper dev; never for test).

`mention_replacement` (train reader only): an `en_med_ner.MentionReplacement.v1`
(med_ner.training.augment) that swaps a share of gold mentions for other names of
the same label. None: the docs as they are.

A corpus's split is <corpus_dir>/<corpus>/<split>.spacy, as `med-ner convert corpus` writes it.
"""
import random
from itertools import islice
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Corpus, Example

from spacy.vocab import Vocab

from med_ner.training.augment import MentionReplacement
from med_ner.training.harmonise import (OUTSIDE_CHOICES, CorpusLabels, KnownMentions, harmonise_doc, known_mentions,
                                      load_harmonisation, merge_known)


class MixError(ValueError):
    pass


def split_path(corpus_dir: Path, corpus: str, split: str) -> Path:
    return Path(corpus_dir) / corpus / f"{split}.spacy"


def mix_corpora(config_path: Path) -> List[str]:
    """The corpora a mix config trains on (its train weights), then any that only its dev union reads."""
    from spacy.util import load_config

    corpora = load_config(config_path, interpolate=False).get("corpora", {})
    train, dev = corpora.get("train", {}), corpora.get("dev", {})
    if train.get("@readers") != "en_med_ner.CorpusMix.v1":
        raise MixError(f"{config_path}: [corpora.train] is not an en_med_ner.CorpusMix.v1 reader")
    names = list(train.get("weights") or {})
    return names + [name for name in dev.get("corpora") or [] if name not in names]


def _corpus_rows(harmonisation: Path, names: List[str], corpus_dir: Path, split: str) -> Dict[str, CorpusLabels]:
    table = load_harmonisation(harmonisation)
    unknown = [name for name in names if name not in table]
    if unknown:
        raise MixError(f"{harmonisation}: no entry for {unknown} (it lists {', '.join(table)})")
    absent = [str(split_path(corpus_dir, name, split)) for name in names
              if not split_path(corpus_dir, name, split).exists()]
    if absent:
        raise MixError(f"not found: {', '.join(absent)} (convert the corpora first: "
                       "`python -m med_ner convert corpus <corpus> --output corpus/<corpus>`)")
    return {name: table[name] for name in names}


def harmonised_docs(path: Path, labels: CorpusLabels, vocab, outside: Optional[str] = None,
                    known: Optional[KnownMentions] = None) -> Iterator[Doc]:
    """The split's docs in file order, relabelled through the table."""
    for doc in DocBin(store_user_data=True).from_disk(path).get_docs(vocab):
        if len(doc):
            yield harmonise_doc(doc, labels, outside, known)


def shuffled(docs: Iterator[Doc], rng: random.Random, buffer: int) -> Iterator[Doc]:
    """A stream in a random order, holding at most `buffer` docs."""
    pool: List[Doc] = []
    for doc in docs:
        pool.append(doc)
        if len(pool) >= buffer:
            yield pool.pop(rng.randrange(len(pool)))
    rng.shuffle(pool)
    yield from pool


class _Corpora:
    """What the mix and the union share: each corpus's table row, split file
    and `outside` setting, and the known mentions that setting may need."""

    def __init__(self, corpus_dir: Path, split: str, names: List[str], harmonisation: Path,
                 outside: Dict[str, str], max_length: int):
        self.names = list(names)
        self.rows = _corpus_rows(Path(harmonisation), self.names, Path(corpus_dir), split)
        for name, value in outside.items():
            if name not in self.names:
                raise MixError(f"outside names {name!r}, which is not in the mix ({', '.join(self.names)})")
            if value not in OUTSIDE_CHOICES:
                raise MixError(f"outside[{name!r}] must be one of {OUTSIDE_CHOICES}, not {value!r}")
        self.outside = outside
        self.paths = {name: split_path(corpus_dir, name, split) for name in self.names}
        self.known = None
        if "known-mentions-missing" in outside.values():
            self.known = self.known_for([name for name, value in outside.items()
                                     if value == "known-mentions-missing"])
        # spaCy's Corpus turns reference docs into examples (tokenisation, max_length).
        self.example_maker = Corpus(str(corpus_dir), max_length=max_length)

    def known_for(self, partial: List[str]) -> KnownMentions:
        """For each label that one of the `partial` corpora does not annotate, the
        mention texts of that label in the corpora of the mix that annotate it."""
        wanted = {label for name in partial for label in self.rows[name].release_labels
                  if label not in self.rows[name].annotates}
        sources = {label: [name for name in self.names if label in self.rows[name].annotates] for label in wanted}
        lacking = sorted(label for label, names in sources.items() if not names)
        if lacking:
            raise MixError(f"outside 'known-mentions-missing' needs a corpus in the mix that annotates {lacking} "
                           f"(none of {', '.join(self.names)} does)")
        docs: Dict[str, List[Doc]] = {}
        parts = []
        for label in sorted(wanted):
            for name in sources[label]:
                if name not in docs:  # entities only: the outside setting does not matter here
                    docs[name] = list(harmonised_docs(self.paths[name], self.rows[name], Vocab(), "missing"))
            parts.append(known_mentions((doc for name in sources[label] for doc in docs[name]), labels=[label]))
        return merge_known(parts)

    def harmonised(self, name: str, vocab) -> Iterator[Doc]:
        return harmonised_docs(self.paths[name], self.rows[name], vocab, self.outside.get(name), self.known)


class CorpusMix(_Corpora):
    def __init__(self, corpus_dir: Path, split: str, weights: Dict[str, float], harmonisation: Path, seed: int = 0,
                 outside: Optional[Dict[str, str]] = None, epoch_size: int = 0, shuffle_buffer: int = 256,
                 max_length: int = 0, mention_replacement: Optional[MentionReplacement] = None):
        if not weights:
            raise MixError("the mix has no corpora: give weights, e.g. {\"MACCROBAT\": 1.0}")
        bad = {name: w for name, w in weights.items() if not isinstance(w, (int, float)) or w <= 0}
        if bad:
            raise MixError(f"weights must be positive numbers: {bad}")
        super().__init__(corpus_dir, split, list(weights), harmonisation, dict(outside or {}), max_length)
        self.weights = [float(weights[name]) for name in self.names]
        self.mention_replacement = mention_replacement
        self.seed = seed
        self.epoch_size = epoch_size
        self.shuffle_buffer = max(1, shuffle_buffer)
        self.calls = 0

    def sizes(self) -> Dict[str, int]:
        return {name: len(DocBin().from_disk(path)) for name, path in self.paths.items()}

    def corpus_stream(self, name: str, vocab, epoch: int) -> Iterator[Doc]:
        """The corpus's docs, pass after pass, each pass in a new order."""
        rng = random.Random(f"{self.seed}/{epoch}/{name}")
        while True:
            empty = True
            for doc in shuffled(self.harmonised(name, vocab), rng, self.shuffle_buffer):
                empty = False
                yield doc
            if empty:
                raise MixError(f"{self.paths[name]}: no documents")

    def draws(self, epoch: int, n: int) -> List[str]:
        """The corpus of each of the epoch's n examples."""
        rng = random.Random(f"{self.seed}/{epoch}/draws")
        return rng.choices(self.names, weights=self.weights, k=n)

    def docs(self, vocab, epoch: int) -> Iterator[Doc]:
        n = self.epoch_size or sum(self.sizes().values())
        streams = {name: self.corpus_stream(name, vocab, epoch) for name in self.names}
        replace = self.mention_replacement
        if replace is not None:
            replace.seen.clear()  # so that epoch k stays a function of (seed, k)
            rng = random.Random(f"{self.seed}/{epoch}/replacement")
        for name in self.draws(epoch, n):
            doc = next(streams[name])
            yield replace(doc, rng) if replace is not None else doc

    def __call__(self, nlp: Language) -> Iterator[Example]:
        epoch = self.calls
        self.calls += 1
        yield from self.example_maker.make_examples(nlp, self.docs(nlp.vocab, epoch))


class CorpusUnion(_Corpora):
    def __init__(self, corpus_dir: Path, split: str, corpora: List[str], harmonisation: Path,
                 outside: Optional[Dict[str, str]] = None, max_length: int = 0, limit: Optional[Dict[str, int]] = None):
        if not corpora:
            raise MixError("the union has no corpora")
        # Dev and test keep "O" outside the entities: the mix scorer limits each
        # corpus to its own labels, so an "O" there means what it says.
        outside = {**{name: "O" for name in corpora}, **(outside or {})}
        super().__init__(corpus_dir, split, corpora, harmonisation, outside, max_length)
        self.limit = dict(limit or {})
        stray = [name for name in self.limit if name not in self.names]
        if stray or any(not isinstance(n, int) or n < 1 for n in self.limit.values()):
            raise MixError(f"limit takes positive document counts of corpora in the union, not {self.limit}")

    def docs(self, vocab) -> Iterator[Doc]:
        for name in self.names:
            yield from islice(self.harmonised(name, vocab), self.limit.get(name))

    def __call__(self, nlp: Language) -> Iterator[Example]:
        yield from self.example_maker.make_examples(nlp, self.docs(nlp.vocab))


@spacy.registry.readers("en_med_ner.CorpusMix.v1")
def create_corpus_mix(corpus_dir: str, split: str, weights: Dict[str, float], harmonisation: str, seed: int = 0,
                      outside: Dict[str, str] = {}, epoch_size: int = 0, shuffle_buffer: int = 256,
                      max_length: int = 0, mention_replacement: Optional[MentionReplacement] = None
                      ) -> Callable[[Language], Iterator[Example]]:
    return CorpusMix(Path(corpus_dir), split, dict(weights), Path(harmonisation), seed, dict(outside), epoch_size,
                     shuffle_buffer, max_length, mention_replacement)


@spacy.registry.readers("en_med_ner.CorpusUnion.v1")
def create_corpus_union(corpus_dir: str, split: str, corpora: List[str], harmonisation: str,
                        outside: Dict[str, str] = {}, max_length: int = 0,
                        limit: Dict[str, int] = {}) -> Callable[[Language], Iterator[Example]]:
    return CorpusUnion(Path(corpus_dir), split, list(corpora), Path(harmonisation), dict(outside), max_length,
                       dict(limit))
