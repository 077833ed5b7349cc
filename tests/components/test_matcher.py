from terminology_fixtures import matcher_nlp, small_terms_path  # noqa: F401  (fixtures)
import numpy
import pytest
import spacy
from spacy.tokens import Doc

from med_ner.components.terminology_vocab import VocabError


def tags_of(doc):
    return [tuple(t._.term_tags) for t in doc]


def test_tags_per_type_with_greedy_longest_match(matcher_nlp):
    doc = matcher_nlp("Congestive heart failure after aspirin and fever.")
    assert tags_of(doc) == [
        ("B-SYMPTOM",), ("I-SYMPTOM", "B-DISEASE"), ("I-SYMPTOM", "I-DISEASE"), (), ("B-DRUG",), (), ("B-SYMPTOM",), (),
    ]
    assert doc._.term_tags.shape == (8, 3) and doc._.term_tags.dtype == numpy.int8


def test_match_ignores_how_the_text_was_tokenised(matcher_nlp):
    # BC5CDR's pre-tokenised text splits hyphens; spaCy's tokenizer keeps "5-fluorouracil" whole.
    split = Doc(matcher_nlp.vocab, words=["5", "-", "fluorouracil", "toxicity"])
    assert tags_of(matcher_nlp.get_pipe("terminology_matcher")(split))[:3] == [("B-DRUG",), ("I-DRUG",), ("I-DRUG",)]
    assert tags_of(matcher_nlp("5-fluorouracil toxicity"))[0] == ("B-DRUG",)


def test_partial_words_do_not_match(matcher_nlp):
    assert tags_of(matcher_nlp("aspirins feverish")) == [(), ()]


def test_round_trip_through_disk_keeps_table_and_tags(matcher_nlp, tmp_path):
    text = "Congestive heart failure after aspirin."
    matcher_nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert tags_of(loaded(text)) == tags_of(matcher_nlp(text))
    assert loaded.get_pipe("terminology_matcher").candidates("Heart  Failure") == \
        matcher_nlp.get_pipe("terminology_matcher").candidates("heart failure")
    # Written twice, the same bytes: the wheel build is reproducible.
    loaded.to_disk(tmp_path / "q")
    assert (tmp_path / "p/terminology_matcher/terms.msgpack.gz").read_bytes() == \
        (tmp_path / "q/terminology_matcher/terms.msgpack.gz").read_bytes()


def test_missing_term_list_names_the_file(tmp_path):
    nlp = spacy.blank("en")
    with pytest.raises(VocabError, match=r"nothere\.jsonl: no term list \(run `med-ner vocab"):
        nlp.add_pipe("terminology_matcher").initialize(terms_path=tmp_path / "nothere.jsonl")


def test_missing_table_on_load_names_the_file(matcher_nlp, tmp_path):
    matcher_nlp.to_disk(tmp_path / "p")
    (tmp_path / "p/terminology_matcher/terms.msgpack.gz").unlink()
    with pytest.raises(VocabError, match=r"terms\.msgpack\.gz: the terminology_matcher's term table is missing"):
        spacy.load(tmp_path / "p")
