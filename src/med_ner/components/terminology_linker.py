"""The `terminology_linker` component: vocabulary ids for the entities the NER found.

It runs after `ner` and reads the term table of the pipeline's
`terminology_matcher` (no second copy). For each entity whose whole text is
exactly a vocabulary term (compared as the matcher compares: lowercased,
whitespace ignored):

- `ent._.kb_candidates`: every matching entry of a type compatible with the
  entity's label, as {"id", "name", "source"} dicts (empty list: no match);
- `ent.kb_id_` and `ent._.canonical_name`: set only when the candidates of the
  first source in the label's preference order (LINK_SOURCES) name exactly
  one id. When that source names several ids the entity stays unlinked
  (kb_id_ empty, canonical_name None), `ent._.kb_ambiguous` is True and the
  candidates list all of them, so no choice is made silently. The same name in
  a later source (an OMIM disease that is also an ICD-10-CM code) is not an
  ambiguity: the sources are ranked, and the candidates show them all.

The `labels` setting says which vocabulary kind (DRUG, SYMPTOM, DISEASE) each
NER label links to; by default the project's labels and the benchmark corpora's
own (BC5CDR's Chemical and Disease, NCBI-disease's Disease). Other labels
(BODY_PART, TEST, PROCEDURE) are left alone.
"""
from typing import Dict, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span

from med_ner.components.terminology_matcher import Candidate, TerminologyMatcher

# Vocabulary kind -> the (term type, source id prefix) to link to, most preferred first.
# ICD-10-CM before OMIM/Orphanet for diseases: OMIM and Orphanet name rare
# Mendelian diseases, some with the name of a common condition (OMIM:615555 is
# the familial "Hyperprolactinemia"; drug-induced hyperprolactinemia is E22.1).
# BC5CDR's and NCBI's Disease mentions include signs ("hypotension", "seizures")
# that HPO names and the disease vocabularies do not, hence HPO as the last
# resort for DISEASE, and the disease vocabularies after HPO for SYMPTOM.
LINK_SOURCES: Dict[str, Tuple[Tuple[str, str], ...]] = {
    "DRUG": (("DRUG", "DrugBank:"), ("DRUG", "MESH:"), ("DRUG", "MedlinePlus:")),
    "SYMPTOM": (("SYMPTOM", "HP:"), ("SYMPTOM", "ICD10CM:"), ("DISEASE", "OMIM:"), ("DISEASE", "ORPHA:"),
                ("DISEASE", "ICD10CM:")),
    "DISEASE": (("DISEASE", "ICD10CM:"), ("DISEASE", "ORPHA:"), ("DISEASE", "OMIM:"), ("SYMPTOM", "HP:"),
                ("SYMPTOM", "ICD10CM:")),
}

DEFAULT_LABELS = {"DRUG": "DRUG", "SYMPTOM": "SYMPTOM", "DISEASE": "DISEASE", "Chemical": "DRUG", "Disease": "DISEASE"}

for _name, _default in (("canonical_name", None), ("kb_candidates", None), ("kb_ambiguous", False)):
    if not Span.has_extension(_name):
        Span.set_extension(_name, default=_default)


def _rank(kind: str, candidate: Candidate) -> Optional[int]:
    for rank, (term_type, prefix) in enumerate(LINK_SOURCES.get(kind, ())):
        if candidate.type == term_type and candidate.source_id.startswith(prefix):
            return rank
    return None


def link(matcher: TerminologyMatcher, kind: str, text: str) -> Tuple[List[Candidate], Optional[Candidate], bool]:
    """For an entity of vocabulary kind `kind` (DRUG, SYMPTOM, DISEASE): (compatible
    candidates best-ranked first, the one linked or None, ambiguous?)."""
    ranked = sorted((rank, c) for c in matcher.candidates(text) if (rank := _rank(kind, c)) is not None)
    ranked = [(rank, c) for i, (rank, c) in enumerate(ranked) if i == 0 or c.source_id != ranked[i - 1][1].source_id]
    if not ranked:
        return [], None, False
    best = [c for rank, c in ranked if rank == ranked[0][0]]
    return [c for _, c in ranked], best[0] if len(best) == 1 else None, len(best) > 1


class TerminologyLinker:
    def __init__(self, nlp: Language, name: str, matcher: str, labels: Dict[str, str]):
        unknown = sorted(set(labels.values()) - set(LINK_SOURCES))
        if unknown:
            raise ValueError(f"terminology_linker {name!r}: labels map to {unknown}, not one of {sorted(LINK_SOURCES)}")
        self.nlp = nlp
        self.name = name
        self.matcher_name = matcher
        self.labels = dict(labels)

    def _matcher(self) -> TerminologyMatcher:
        if self.matcher_name not in self.nlp.component_names:
            raise ValueError(f"terminology_linker {self.name!r}: the pipeline has no component {self.matcher_name!r} "
                             f"to take the term table from")
        return self.nlp.get_pipe(self.matcher_name)

    def __call__(self, doc: Doc) -> Doc:
        matcher = self._matcher()
        ents = []
        for ent in doc.ents:
            kind = self.labels.get(ent.label_)
            if kind is None:
                ents.append(ent)
                continue
            candidates, linked, ambiguous = link(matcher, kind, ent.text)
            if linked is not None and linked.source_id:
                ent = Span(doc, ent.start, ent.end, label=ent.label, kb_id=linked.source_id)
                ent._.canonical_name = linked.canonical
            ent._.kb_candidates = [{"id": c.source_id, "name": c.canonical, "source": c.source} for c in candidates]
            ent._.kb_ambiguous = ambiguous
            ents.append(ent)
        doc.ents = ents
        return doc


@Language.factory("terminology_linker", default_config={"matcher": "terminology_matcher", "labels": DEFAULT_LABELS},
                  assigns=["span._.canonical_name", "span._.kb_candidates", "span._.kb_ambiguous"],
                  requires=["doc.ents"])
def make_terminology_linker(nlp: Language, name: str, matcher: str, labels: Dict[str, str]) -> TerminologyLinker:
    return TerminologyLinker(nlp, name, matcher, labels)
