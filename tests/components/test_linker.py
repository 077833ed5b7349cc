from terminology_fixtures import matcher_nlp, small_terms_path  # noqa: F401  (fixtures)
import pytest
from spacy.tokens import Span

from med_ner.prediction.predict import entity_line
from med_ner.prediction.records import entity_record


@pytest.fixture
def linked(matcher_nlp):
    matcher_nlp.add_pipe("terminology_linker")

    def run(text, ents):
        doc = matcher_nlp.make_doc(text)
        doc = matcher_nlp.get_pipe("terminology_matcher")(doc)
        doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
        return matcher_nlp.get_pipe("terminology_linker")(doc)
    return run


def test_exact_match_of_compatible_type_links(linked):
    doc = linked("Aspirin for heart failure and fever", [(0, 1, "DRUG"), (2, 4, "DISEASE"), (5, 6, "SYMPTOM")])
    assert [(e.kb_id_, e._.canonical_name) for e in doc.ents] == [
        ("DrugBank:DB00945", "Acetylsalicylic acid"), ("ICD10CM:I50", "Heart failure"), ("HP:0001945", "Fever")]
    # The other source's entry for the same name is listed, not an ambiguity.
    assert [c["id"] for c in doc.ents[1]._.kb_candidates] == ["ICD10CM:I50", "HP:0001635"]
    assert not doc.ents[1]._.kb_ambiguous


def test_label_decides_the_preferred_vocabulary(linked):
    doc = linked("pneumonia pneumonia", [(0, 1, "DISEASE"), (1, 2, "SYMPTOM")])
    assert [e.kb_id_ for e in doc.ents] == ["ICD10CM:J189", "HP:0002090"]


def test_corpus_labels_link_through_the_label_map(linked):
    doc = linked("aspirin fever", [(0, 1, "Chemical"), (1, 2, "BODY_PART")])
    assert [e.kb_id_ for e in doc.ents] == ["DrugBank:DB00945", ""]
    assert doc.ents[1]._.kb_candidates is None  # a label without a vocabulary is not looked up


def test_incompatible_type_or_partial_text_stays_unlinked(linked):
    doc = linked("fever aspirin tablets", [(0, 1, "DRUG"), (1, 3, "DRUG")])
    assert [(e.kb_id_, e._.canonical_name, e._.kb_candidates) for e in doc.ents] == [("", None, []), ("", None, [])]


def test_ambiguous_match_is_not_linked_and_lists_the_candidates(linked):
    doc = linked("CDS", [(0, 1, "DISEASE")])
    ent = doc.ents[0]
    assert ent.kb_id_ == "" and ent._.canonical_name is None and ent._.kb_ambiguous
    assert [c["id"] for c in ent._.kb_candidates] == ["OMIM:100001", "OMIM:100002"]


def test_entity_record_carries_id_and_canonical_name(linked):
    doc = linked("Aspirin and CDS", [(0, 1, "DRUG"), (2, 3, "DISEASE")])
    assert entity_record(doc.ents[0]) == {"start": 0, "end": 7, "label": "DRUG", "text": "Aspirin",
                                          "id": "DrugBank:DB00945", "name": "Acetylsalicylic acid"}
    assert entity_record(doc.ents[1])["candidates"] == ["OMIM:100001", "OMIM:100002"]


def test_linker_without_matcher_says_so(matcher_nlp):
    matcher_nlp.add_pipe("terminology_linker", config={"matcher": "nope"})
    with pytest.raises(ValueError, match="no component 'nope'"):
        matcher_nlp("aspirin")


def test_predict_line_shows_id_and_name(linked):
    doc = linked("Aspirin and CDS", [(0, 1, "DRUG"), (2, 3, "DISEASE")])
    assert [entity_line(e) for e in doc.ents] == [
        "Entity: Aspirin, Label: DRUG, Id: DrugBank:DB00945, Name: Acetylsalicylic acid",
        "Entity: CDS, Label: DISEASE, Candidates: OMIM:100001 | OMIM:100002"]


def test_demo_table_shows_ids_and_ambiguity(matcher_nlp):
    from med_ner.service import demo

    ruler = matcher_nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "DRUG", "pattern": "aspirin"}, {"label": "DISEASE", "pattern": "CDS"}])
    matcher_nlp.add_pipe("terminology_linker")
    _, rows, _ = demo.analyse(matcher_nlp, "aspirin and CDS", 300)
    assert [row[-2:] for row in rows] == [["DrugBank:DB00945", "Acetylsalicylic acid"],
                                          ["ambiguous: OMIM:100001 | OMIM:100002", ""]]
