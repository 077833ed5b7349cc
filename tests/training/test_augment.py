"""Mention replacement (med_ner.training.augment) on hand-made docs and through the mix reader."""
import json
import random

import pytest
import spacy
from spacy.tokens import Doc, DocBin

from med_ner.training.augment import AugmentError, MentionReplacement, load_term_names, match_case
from med_ner.training.mix import CorpusMix


WORDS = "The patient took Metformin for type 2 diabetes and had a CT scan .".split()
IOB = ["O", "O", "O", "B-DRUG", "O", "B-DISEASE", "I-DISEASE", "I-DISEASE", "O", "", "O", "B-TEST", "I-TEST", "O"]


@pytest.fixture
def terms(tmp_path):
    rows = [{"term": "sitagliptin", "type": "DRUG"}, {"term": "chronic kidney disease", "type": "DISEASE"},
            {"term": "Malignant neoplasm of the upper lobe of the left lung", "type": "DISEASE"},
            {"term": "''quoted''", "type": "DRUG"}, {"term": "siderosis of eye, bilateral", "type": "DISEASE"}]
    path = tmp_path / "terms.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf8")
    return path


def doc_of(vocab):
    return Doc(vocab, words=WORDS, ents=IOB)


def test_term_names_leave_out_long_quoted_and_qualified_names(terms):
    names = load_term_names(terms, max_words=4)
    assert names == {"DRUG": ["sitagliptin"], "DISEASE": ["chronic kidney disease"]}


def test_every_chosen_mention_is_replaced_with_its_label_and_the_rest_is_kept(terms):
    vocab = spacy.blank("en").vocab
    replace = MentionReplacement(terms, level=1.0, rate=1.0, terms_share=1.0)
    new = replace(doc_of(vocab), random.Random(0))
    assert [(e.text, e.label_) for e in new.ents] == [("Sitagliptin", "DRUG"), ("chronic kidney disease", "DISEASE"),
                                                     ("CT scan", "TEST")]
    assert new.text.rstrip() == "The patient took Sitagliptin for chronic kidney disease and had a CT scan ."
    # "O" stays "O" and the missing token stays missing.
    assert [t.ent_iob_ for t in new if not t.ent_type_] == ["O", "O", "O", "O", "O", "", "O", "O"]
    assert [t.text for t in new if t.ent_iob == 0] == ["had"]  # missing in the original
    assert replace.replaced == 2  # TEST has no other name yet


def test_mentions_seen_earlier_replace_labels_without_terms(terms):
    vocab = spacy.blank("en").vocab
    replace = MentionReplacement(terms, level=1.0, rate=1.0, terms_share=0.0)
    other = Doc(vocab, words="An MRI scan showed nothing".split(), ents=["O", "B-TEST", "I-TEST", "O", "O"])
    replace(other, random.Random(0))
    new = replace(doc_of(vocab), random.Random(0))
    assert ("MRI scan", "TEST") in [(e.text, e.label_) for e in new.ents]


def test_rate_zero_and_level_zero_change_nothing(terms):
    vocab = spacy.blank("en").vocab
    for replace in (MentionReplacement(terms, level=1.0, rate=0.0), MentionReplacement(terms, level=0.0, rate=1.0)):
        doc = doc_of(vocab)
        assert replace(doc, random.Random(0)) is doc


def test_case_follows_the_original():
    assert match_case("Sitagliptin", "metformin") == "sitagliptin"
    assert match_case("sitagliptin", "Metformin") == "Sitagliptin"
    assert match_case("ckd", "DM") == "CKD"


def test_bad_settings_and_files_are_errors(tmp_path, terms):
    with pytest.raises(AugmentError, match="rate must be between 0 and 1"):
        MentionReplacement(terms, rate=1.5)
    with pytest.raises(AugmentError, match="terms file not found"):
        MentionReplacement(tmp_path / "absent.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"term": "x", "type": "DRUG"}\n{"name": "y"}\n', encoding="utf8")
    with pytest.raises(AugmentError, match=r"bad.jsonl:2: not a terms row"):
        load_term_names(bad, 4)


def test_mix_reader_replaces_mentions_reproducibly(tmp_path, terms):
    nlp = spacy.blank("en")
    (tmp_path / "table.yml").write_text("release_labels: [SYMPTOM, DRUG]\ncorpora:\n  full:\n"
                                        "    annotates: [SYMPTOM, DRUG]\n", encoding="utf8")
    docs = DocBin()
    for i in range(5):
        docs.add(Doc(nlp.vocab, words=["fever", "and", "aspirin", str(i)], ents=["B-SYMPTOM", "O", "B-DRUG", "O"]))
    (tmp_path / "corpus" / "full").mkdir(parents=True)
    docs.to_disk(tmp_path / "corpus" / "full" / "train.spacy")

    def epoch(replacement):
        reader = CorpusMix(tmp_path / "corpus", "train", {"full": 1.0}, tmp_path / "table.yml", seed=3,
                           mention_replacement=replacement)
        return [eg.reference for eg in reader(nlp)]

    plain = epoch(None)
    first = epoch(MentionReplacement(terms, level=1.0, rate=1.0, terms_share=1.0))
    again = epoch(MentionReplacement(terms, level=1.0, rate=1.0, terms_share=1.0))
    assert [d.text for d in first] == [d.text for d in again]
    assert all("aspirin" in d.text for d in plain)
    # The DRUG "aspirin" has a vocabulary name: every doc gets it; the SYMPTOM "fever" has none and stays.
    assert all(("sitagliptin", "DRUG") in [(e.text, e.label_) for e in d.ents] for d in first)
    assert all(d[0].text == "fever" and d[0].ent_type_ == "SYMPTOM" for d in first)
