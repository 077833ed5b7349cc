"""attribute_linker: fitted on gold links, it links attribute spans and body
parts to their head entities; saved and loaded with the pipeline."""
import random

import pytest
import spacy
from spacy.tokens import Span
from spacy.training import Example

from med_ner.components.attribute_linker import gold_links, predicted_links
from med_ner.evaluation.attributes import link_scores_with_gold_spans, nearest_links

TESTS = ["hemoglobin", "platelets", "creatinine", "sodium", "albumin", "bilirubin"]
SYMPTOMS = ["pain", "headache", "cough", "rash", "fatigue"]
SITES = ["chest", "abdominal", "back", "neck"]


def lab_doc(nlp, rng):
    """'<test1> was <v1> and <test2> <v2> .': each value modifies the test before it."""
    t1, t2 = rng.sample(TESTS, 2)
    v1, v2 = rng.randint(2, 90), rng.randint(2, 90)
    doc = nlp.make_doc(f"{t1} was {v1} g/dL and {t2} {v2} mg .")
    doc.ents = [Span(doc, 0, 1, "TEST"), Span(doc, 5, 6, "TEST")]
    doc.spans["attributes"] = [Span(doc, 2, 4, "LAB_VALUE"), Span(doc, 6, 8, "LAB_VALUE")]
    doc.user_data["links"] = [[s.start_char, s.end_char, h.start_char, h.end_char]
                              for s, h in zip(doc.spans["attributes"], doc.ents)]
    return doc


def symptom_doc(nlp, rng):
    """'<symptom1> and severe <site> <symptom2> .': severity and site modify the second symptom."""
    s1, s2 = rng.sample(SYMPTOMS, 2)
    doc = nlp.make_doc(f"{s1} and severe {rng.choice(SITES)} {s2} .")
    doc.ents = [Span(doc, 0, 1, "SYMPTOM"), Span(doc, 3, 4, "BODY_PART"), Span(doc, 4, 5, "SYMPTOM")]
    doc.spans["attributes"] = [Span(doc, 2, 3, "SEVERITY")]
    head = doc.ents[2]
    doc.user_data["links"] = [[doc[2:3].start_char, doc[2:3].end_char, head.start_char, head.end_char],
                              [doc.ents[1].start_char, doc.ents[1].end_char, head.start_char, head.end_char]]
    return doc


@pytest.fixture(scope="module")
def trained():
    nlp = spacy.blank("en")
    rng = random.Random(0)
    docs = [lab_doc(nlp, rng) for _ in range(30)] + [symptom_doc(nlp, rng) for _ in range(30)]
    linker = nlp.add_pipe("attribute_linker")
    nlp.initialize(lambda: [Example(nlp.make_doc(d.text), d) for d in docs])
    return nlp, linker, rng


def test_links_each_modifier_to_its_head(trained):
    nlp, linker, rng = trained
    assert linker.compatible == {"LAB_VALUE": ["TEST"], "SEVERITY": ["SYMPTOM"], "SITE": ["SYMPTOM"]}
    for make in (lab_doc, symptom_doc):
        gold = make(nlp, rng)
        doc = linker(gold.copy())
        assert predicted_links(doc) == gold_links(gold, "attributes", "BODY_PART")
    doc = linker(symptom_doc(nlp, rng))
    head = doc.ents[2]
    assert [(a["type"], a["text"]) for a in head._.attributes] == [("SEVERITY", "severe"), ("SITE", doc.ents[1].text)]
    assert all(0.5 <= a["score"] <= 1 for a in head._.attributes) and doc.ents[0]._.attributes == []
    assert doc.spans["attributes"][0]._.modifies["text"] == head.text
    assert doc.ents[1]._.modifies["label"] == "SYMPTOM"


def test_beats_the_nearest_entity_baseline_where_nearest_is_wrong(trained):
    """In "pain and severe chest cough", "pain" and "cough" are equally near
    "severe": the baseline takes the first, the fitted model the right one."""
    nlp, linker, rng = trained
    docs = [lab_doc(nlp, rng) for _ in range(5)] + [symptom_doc(nlp, rng) for _ in range(5)]
    scores = link_scores_with_gold_spans(linker, docs)
    assert scores["model"]["overall"]["f"] == 1.0
    assert scores["baseline"]["LAB_VALUE"]["f"] == 1.0 and scores["baseline"]["SEVERITY"]["f"] == 0.0
    assert scores["model"]["overall"]["support"] == 5 * 2 + 5 * 2


def test_round_trip_and_errors(trained, tmp_path):
    nlp, linker, rng = trained
    nlp.to_disk(tmp_path / "pipe")
    loaded = spacy.load(tmp_path / "pipe")
    gold = lab_doc(nlp, rng)
    assert predicted_links(loaded.get_pipe("attribute_linker")(gold.copy())) == gold_links(gold, "attributes",
                                                                                             "BODY_PART")
    blank = spacy.blank("en")
    blank.add_pipe("attribute_linker")
    with pytest.raises(ValueError, match="no gold links"):
        blank.initialize(lambda: [Example(blank.make_doc("a b"), blank.make_doc("a b"))])


def list_doc(nlp, rng):
    """'<test1> and <test2> were normal , <test3> <v> g .': "normal" describes both
    listed tests, the value the test before it."""
    t1, t2, t3 = rng.sample(TESTS, 3)
    doc = nlp.make_doc(f"{t1} and {t2} were normal , {t3} {rng.randint(2, 90)} g .")
    doc.ents = [Span(doc, 0, 1, "TEST"), Span(doc, 2, 3, "TEST"), Span(doc, 6, 7, "TEST")]
    doc.spans["attributes"] = [Span(doc, 4, 5, "LAB_VALUE"), Span(doc, 7, 9, "LAB_VALUE")]
    normal, value = doc.spans["attributes"]
    doc.user_data["links"] = [[normal.start_char, normal.end_char, h.start_char, h.end_char] for h in doc.ents[:2]]
    doc.user_data["links"].append([value.start_char, value.end_char, doc.ents[2].start_char, doc.ents[2].end_char])
    return doc


def test_second_model_reads_the_rivals(trained):
    """The second model's features say what the pair model thought of a
    candidate's rivals: its rank, whether the modifier is the head's most
    probable one of its type, whether the candidate is listed with the best head."""
    nlp, linker, rng = trained
    doc = list_doc(nlp, rng)
    ctx, pairs = linker.doc_pairs(doc)
    (normal, _, normal_heads, _), (value, _, value_heads, _) = pairs
    assert [h.start for h in normal_heads] == [0, 2, 6] and [h.start for h in value_heads] == [0, 2, 6]
    # "normal": test2 best, test1 second; the value: test3 best, test2 (which "normal" holds more surely) second.
    probs = [[0.6, 0.9, 0.2], [0.1, 0.5, 0.95]]
    rows = linker.rerank_features(ctx, pairs, probs)
    assert "first_rank=LAB_VALUE>TEST|0" in rows[0][1] and "first_rank=LAB_VALUE>TEST|1" in rows[0][0]
    assert "listed_with_best=LAB_VALUE>TEST|True" in rows[0][0]  # "t1 and" t2
    assert "listed_with_best=LAB_VALUE>TEST|False" in rows[0][2]  # "were normal ," between
    assert "head_best=LAB_VALUE>TEST|True" in rows[0][1] and "head_best=LAB_VALUE>TEST|False" in rows[1][1]
    assert "head_best=LAB_VALUE>TEST|True" in rows[1][2]
    assert not any(f.startswith(("listed_with_best", "first_gap")) for f in rows[0][1])


def test_links_a_value_to_a_list_of_tests(trained):
    nlp, _, rng = trained
    docs = [list_doc(nlp, rng) for _ in range(30)] + [lab_doc(nlp, rng) for _ in range(30)]
    nlp = spacy.blank("en")
    linker = nlp.add_pipe("attribute_linker")
    nlp.initialize(lambda: [Example(nlp.make_doc(d.text), d) for d in docs])
    assert linker.reranker is not None and linker.other_threshold <= 1.0
    for make in (list_doc, lab_doc):
        gold = make(nlp, rng)
        assert predicted_links(linker(gold.copy())) == gold_links(gold, "attributes", "BODY_PART")
    with pytest.raises(ValueError, match="at least 2 training documents"):
        blank = spacy.blank("en")
        blank.add_pipe("attribute_linker")
        blank.initialize(lambda: [Example(blank.make_doc(docs[0].text), docs[0])])


def test_loads_a_linker_saved_with_the_pair_model_only(trained, tmp_path):
    """A pipeline saved before the second model (no "reranker", the threshold
    inside the pair model) links with its pair model."""
    import srsly

    nlp, linker, rng = trained
    nlp.to_disk(tmp_path / "pipe")
    path = tmp_path / "pipe" / "attribute_linker" / "model.json"
    data = srsly.read_json(path)
    data["model"]["threshold"] = data.pop("threshold")
    del data["reranker"]
    srsly.write_json(path, data)
    loaded = spacy.load(tmp_path / "pipe").get_pipe("attribute_linker")
    assert loaded.reranker is None and loaded.threshold == linker.threshold
    gold = lab_doc(nlp, rng)
    doc = loaded(gold.copy())
    assert predicted_links(doc) == gold_links(gold, "attributes", "BODY_PART")
    scores = {(a["start"], ent.start_char): a["score"] for ent in doc.ents for a in ent._.attributes}
    _, pairs = loaded.doc_pairs(gold.copy())
    pair_scores = {(mod.start_char, head.start_char): round(loaded.model.probability(row), 4)
                   for mod, _, heads, rows in pairs for head, row in zip(heads, rows)}
    assert scores and all(pair_scores[key] == score for key, score in scores.items())
