"""The `terminology_matcher` component: which vocabulary types cover each token.

After it runs, `doc._.term_tags` is an int8 array of shape (len(doc), 3): for
each of DRUG, SYMPTOM, DISEASE (columns in TERM_TYPES order) 0 = outside a
match, 1 = first token of a match, 2 = inside one. `token._.term_tags` shows a
token's tags as strings ("B-DRUG", "I-SYMPTOM"). Per type, matches are chosen
greedily left to right, longest first, so they never overlap within a type.

Matching is exact on lowercased text with whitespace ignored: a run of tokens
matches a term when their lowercased texts, joined with nothing between them,
equal the term with its spaces removed. So a term matches whatever the
tokenizer did with its hyphens and brackets ("5-fluorouracil" matches
"5 - fluorouracil" of BC5CDR's pre-tokenised text), which PhraseMatcher over
LOWER would miss; it is also faster (see the README's Terminology section).

The term list lives inside the pipeline (to_disk/from_disk, one gzipped
msgpack file), so a packaged pipeline matches and links offline.
"""
import gzip
from array import array
from bisect import bisect_left
from itertools import accumulate
from pathlib import Path
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple

import numpy
import srsly
from spacy.language import Language
from spacy.tokens import Doc, Token
from spacy.training import Example
from spacy.util import ensure_path

from med_ner.components.terminology_vocab import TERM_TYPES, Term, VocabError, build_terms, read_terms

TAG_NAMES = ("O", "B", "I")
TYPE_BITS = {term_type: 1 << i for i, term_type in enumerate(TERM_TYPES)}
# Term keys longer than this many characters are kept for linking but never
# matched: they are ICD-10-CM sentences that no running text repeats, and
# capping the key length bounds the work per token.
MAX_MATCH_CHARS = 64
DATA_FILE = "terms.msgpack.gz"

if not Doc.has_extension("term_tags"):
    Doc.set_extension("term_tags", default=None)
if not Token.has_extension("term_tags"):
    Token.set_extension("term_tags", getter=lambda token: token_tag_names(token.doc, token.i))


def match_key(text: str) -> str:
    """Lowercased, whitespace removed: the form terms and token runs are compared in."""
    return "".join(text.lower().split())


def token_tag_names(doc: Doc, i: int) -> List[str]:
    tags = doc._.term_tags
    if tags is None:
        return []
    return [f"{TAG_NAMES[tag]}-{term_type}" for term_type, tag in zip(TERM_TYPES, tags[i]) if tag]


class StringColumn:
    """A list of strings held as one text of the distinct values and a row index:
    canonical names and ids repeat across synonyms, and one str object per row
    costs about 60 bytes of overhead."""

    def __init__(self, values: List[str]):
        distinct: Dict[str, int] = {}
        self._rows = array("I", (distinct.setdefault(value, len(distinct)) for value in values))
        self._text = "".join(distinct)
        self._ends = array("I", accumulate(map(len, distinct)))

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, row: int) -> str:
        value = self._rows[row]
        return self._text[self._ends[value - 1] if value else 0:self._ends[value]]

    def __iter__(self):
        return (self[row] for row in range(len(self._rows)))


class Candidate(NamedTuple):
    type: str
    source: str
    source_id: str
    canonical: str


class TerminologyMatcher:
    """Greedy longest exact matching of vocabulary terms over token runs."""

    def __init__(self, nlp: Language, name: str):
        self.name = name
        # The full rows are only needed to write the table; a loaded pipeline keeps its compressed bytes instead.
        self.keep_terms = True
        self._data: Optional[bytes] = None
        self._set_terms([])

    # ---- the term table. 190,000 rows held as Python objects (Term tuples, a
    # key dict, a prefix set) took about 100 MB of a loaded pipeline, so it is kept as
    # sorted columns searched by bisection: the unique match keys (one str each)
    # with their packed rows and types, and the linking columns as packed text.
    def _set_terms(self, terms: List[Term]) -> None:
        rows = sorted(terms, key=lambda t: (match_key(t.term), t))
        source_names = sorted({t.source for t in rows})
        source_index = {name: i for i, name in enumerate(source_names)}
        self._set_columns([t.term for t in rows], bytes(TERM_TYPES.index(t.type) for t in rows),
                          source_names, bytes(source_index[t.source] for t in rows),
                          [t.source_id for t in rows], [t.canonical for t in rows])

    def _set_columns(self, terms: List[str], types: bytes, source_names: List[str], sources: bytes,
                     source_ids: List[str], canonicals: List[str]) -> None:
        """The table from columns already sorted by match key (as _set_terms and to_bytes leave them)."""
        self.type_names = list(TERM_TYPES)
        self.source_names = source_names
        self._type, self._source = types, sources
        self._source_id, self._canonical = StringColumn(source_ids), StringColumn(canonicals)
        self._term = terms if self.keep_terms else None
        bits = [TYPE_BITS[name] for name in self.type_names]
        # Unique keys in sorted order; per key: first_row << 16 | row_count << 4 | type bits
        # (0: link-only, too long to match).
        self._keys: List[str] = []
        packed = []
        previous, first, mask = None, 0, 0
        for row, term in enumerate(terms + [None]):
            key = match_key(term) if term is not None else None
            if key != previous:
                if previous is not None:
                    self._keys.append(previous)
                    packed.append(first << 16 | min(row - first, 4095) << 4
                                  | (mask if len(previous) <= MAX_MATCH_CHARS else 0))
                previous, first, mask = key, row, 0
            if term is not None:
                mask |= bits[types[row]]
        self._packed = array("Q", packed)

    def __len__(self) -> int:
        return len(self._type)

    def candidates(self, text: str) -> List[Candidate]:
        """The vocabulary entries whose term is exactly `text` (compared as match_key)."""
        key = match_key(text)
        i = bisect_left(self._keys, key)
        if i == len(self._keys) or self._keys[i] != key:
            return []
        packed = self._packed[i]
        first, count = packed >> 16, (packed >> 4) & 4095
        return [Candidate(self.type_names[self._type[i]], self.source_names[self._source[i]], self._source_id[i],
                          self._canonical[i]) for i in range(first, first + count)]

    def initialize(self, get_examples: Optional[Callable[[], Iterable[Example]]] = None, *,
                   nlp: Optional[Language] = None, terms_path: Optional[Path] = None) -> None:
        """Load the term list: `terms_path` (the `vocab` step's terms.jsonl), or, when
        it is None, build it from the installed vocabulary packages."""
        if terms_path is None:
            terms = build_terms()
        else:
            terms_path = Path(terms_path)
            if not terms_path.is_file():
                raise VocabError(f"{terms_path}: no term list (run `med-ner vocab --output {terms_path.parent}`)")
            terms = read_terms(terms_path)
        self.keep_terms = True
        self._data = None
        self._set_terms(terms)

    # ---- matching
    def longest_matches(self, keys: List[str]) -> List[Tuple[int, int, int]]:
        """(start, end, type bits) of the longest match of each type at each start token."""
        found = []
        sorted_keys, packed, n_keys, n_tokens = self._keys, self._packed, len(self._keys), len(keys)
        for start in range(n_tokens):
            key = ""
            longest: Dict[int, int] = {}
            for end in range(start, n_tokens):
                key += keys[end]
                if not key or len(key) > MAX_MATCH_CHARS:
                    break
                # The first key at or after `key` in sorted order: `key` itself if it is
                # a term; if it does not start with `key`, no longer run can match either.
                i = bisect_left(sorted_keys, key)
                if i == n_keys or not sorted_keys[i].startswith(key):
                    break
                mask = packed[i] & 15 if sorted_keys[i] == key else 0
                if mask:
                    longest.update({bit: end + 1 for bit in TYPE_BITS.values() if mask & bit})
            found.extend((start, end, bit) for bit, end in longest.items())
        return found

    def tag(self, doc: Doc) -> numpy.ndarray:
        tags = numpy.zeros((len(doc), len(TERM_TYPES)), dtype=numpy.int8)
        keys = [match_key(token.text) for token in doc]
        covered_until = {bit: 0 for bit in TYPE_BITS.values()}
        columns = {bit: column for column, bit in enumerate(TYPE_BITS.values())}
        # longest_matches lists starts in order, so the first match of a type that
        # starts after the previous one ends is the greedy leftmost-longest one.
        for start, end, bit in self.longest_matches(keys):
            if start >= covered_until[bit]:
                column = columns[bit]
                tags[start, column] = 1
                tags[start + 1:end, column] = 2
                covered_until[bit] = end
        return tags

    def __call__(self, doc: Doc) -> Doc:
        doc._.term_tags = self.tag(doc)
        return doc

    # ---- serialisation: the term table as gzipped msgpack columns
    def to_bytes(self, *, exclude=tuple()) -> bytes:
        if self._data is not None:
            return self._data
        columns = {
            "term": self._term, "source_id": list(self._source_id), "canonical": list(self._canonical),
            "type": {"names": self.type_names, "rows": list(self._type)},
            "source": {"names": self.source_names, "rows": list(self._source)},
        }
        return gzip.compress(srsly.msgpack_dumps(columns), mtime=0)

    def from_bytes(self, data: bytes, *, exclude=tuple()) -> "TerminologyMatcher":
        columns = srsly.msgpack_loads(gzip.decompress(data))
        if columns["type"]["names"] != list(TERM_TYPES):
            raise VocabError(f"terminology_matcher table: types {columns['type']['names']}, expected {list(TERM_TYPES)}")
        self.keep_terms = False
        self._set_columns(columns["term"], bytes(columns["type"]["rows"]), columns["source"]["names"],
                          bytes(columns["source"]["rows"]), columns["source_id"], columns["canonical"])
        self._data = data
        return self

    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / DATA_FILE).write_bytes(self.to_bytes())

    def from_disk(self, path, *, exclude=tuple()) -> "TerminologyMatcher":
        data_path = ensure_path(path) / DATA_FILE
        if not data_path.is_file():
            raise VocabError(f"{data_path}: the terminology_matcher's term table is missing")
        return self.from_bytes(data_path.read_bytes())


@Language.factory("terminology_matcher", assigns=["doc._.term_tags"])
def make_terminology_matcher(nlp: Language, name: str) -> TerminologyMatcher:
    return TerminologyMatcher(nlp, name)
