"""add-context --terms: the release pipeline links entities offline."""
import spacy
from spacy.tokens import DocBin
from terminology_fixtures import small_terms_path  # noqa: F401  (fixture)

from med_ner.components import clinical_context
from med_ner.packaging.add_context import add_context


def test_terms_add_linking_that_survives_to_disk(tmp_path, small_terms_path):  # noqa: F811
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "DRUG", "pattern": "aspirin"},
                                              {"label": "SYMPTOM", "pattern": "fever"}])
    nlp.to_disk(tmp_path / "ruler")
    train = tmp_path / "train.spacy"
    DocBin(docs=[nlp("No fever after aspirin.")]).to_disk(train)
    info = add_context(str(tmp_path / "ruler"), train, tmp_path / "final", clinical_context.default_triggers("en"), 8,
                       True, terms=small_terms_path)
    assert info["linking"] and info["inference"] is None  # no transformer: no runtime to set
    final = spacy.load(tmp_path / "final")
    assert final.pipe_names == ["split_tokens", "entity_ruler", "trim_entities", "clinical_context", "terminology_matcher",
                                "terminology_linker"]
    doc = final("She denies fever after aspirin.")
    linked = {ent.text: (ent.kb_id_, ent._.canonical_name, ent._.is_negated) for ent in doc.ents}
    assert linked == {"fever": ("HP:0001945", "Fever", True), "aspirin": ("DrugBank:DB00945", "Acetylsalicylic acid", False)}
    plain = add_context(str(tmp_path / "ruler"), train, tmp_path / "plain", clinical_context.default_triggers("en"), 8, True)
    assert not plain["linking"] and "terminology_linker" not in spacy.load(tmp_path / "plain").pipe_names


def test_a_matcher_that_feeds_the_ner_stays_before_it(tmp_path, small_terms_path):  # noqa: F811
    # A terminology config trains the NER on the matcher's tags: add-context must
    # not move that matcher behind the NER, which would then see no tags.
    nlp = spacy.blank("en")
    nlp.add_pipe("terminology_matcher").initialize(nlp=nlp, terms_path=small_terms_path)
    nlp.add_pipe("entity_ruler", name="ner").add_patterns([{"label": "SYMPTOM", "pattern": "fever"}])
    nlp.add_pipe("terminology_linker", config={"matcher": "terminology_matcher"})
    nlp.to_disk(tmp_path / "tagged")
    train = tmp_path / "train.spacy"
    DocBin(docs=[nlp("No fever.")]).to_disk(train)
    add_context(str(tmp_path / "tagged"), train, tmp_path / "final", clinical_context.default_triggers("en"), 8,
                True, terms=small_terms_path)
    final = spacy.load(tmp_path / "final")
    assert final.pipe_names == ["split_tokens", "terminology_matcher", "ner", "trim_entities", "clinical_context",
                                "terminology_linker"]
    doc = final("She denies fever.")
    assert [(e.text, e.kb_id_, e._.is_negated) for e in doc.ents] == [("fever", "HP:0001945", True)]
    assert doc[2]._.term_tags  # the matcher still tags before the NER
