"""add-context --attributes: attribute_spans sourced from a pipeline and an
attribute_linker fitted on the training DocBin's gold links; evaluate scores
both."""
import random

import spacy
from conftest import SITES, SYMPTOMS, attribute_gold_doc as gold_doc
from spacy.tokens import DocBin

from med_ner.components import clinical_context
from med_ner.evaluation.evaluate import evaluate_model, markdown_table
from med_ner.packaging.add_context import add_context


def test_attributes_are_added_fitted_and_scored(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(
        [{"label": "SYMPTOM", "pattern": s} for s in SYMPTOMS] + [{"label": "BODY_PART", "pattern": s} for s in SITES]
        + [{"label": "TEST", "pattern": "hemoglobin"}])
    nlp.to_disk(tmp_path / "ruler")
    # Any component named attribute_spans that fills doc.spans["attributes"] can be sourced; a rule one here.
    rules = spacy.blank("en")
    rules.add_pipe("span_ruler", name="attribute_spans", config={"spans_key": "attributes"}).add_patterns(
        [{"label": "SEVERITY", "pattern": "severe"},
         {"label": "LAB_VALUE", "pattern": [{"LIKE_NUM": True}, {"LOWER": "mg"}]}])
    rules.to_disk(tmp_path / "attributes")
    rng = random.Random(0)
    DocBin(docs=[gold_doc(nlp, rng) for _ in range(30)], store_user_data=True).to_disk(tmp_path / "train.spacy")
    DocBin(docs=[gold_doc(nlp, rng) for _ in range(5)], store_user_data=True).to_disk(tmp_path / "test.spacy")

    info = add_context(str(tmp_path / "ruler"), tmp_path / "train.spacy", tmp_path / "final",
                       clinical_context.default_triggers("en"), 8, True, attributes=str(tmp_path / "attributes"))
    assert info["attribute_links"] == {"LAB_VALUE": ["TEST"], "SEVERITY": ["SYMPTOM"], "SITE": ["SYMPTOM"]}
    final = spacy.load(tmp_path / "final")
    assert final.pipe_names[-3:] == ["attribute_spans", "attribute_rules", "attribute_linker"]
    doc = final("Cough and severe chest pain, hemoglobin 8 mg.")
    pain = next(e for e in doc.ents if e.text == "pain")
    assert [(a["type"], a["text"]) for a in pain._.attributes] == [("SEVERITY", "severe"), ("SITE", "chest")]
    assert [(a["type"], a["text"]) for a in doc.ents[-1]._.attributes] == [("LAB_VALUE", "8 mg")]
    # The rules add what the span model left out, and never a span that overlaps one of its spans.
    doc = final("severe pain after 40 mg orally for 3 days")
    assert [(s.text, s.label_) for s in doc.spans["attributes"]] == [
        ("severe", "SEVERITY"), ("40 mg", "LAB_VALUE"), ("orally", "ROUTE"), ("3 days", "DURATION")]

    metrics = evaluate_model(str(tmp_path / "final"), tmp_path / "test.spacy", "test")
    report = metrics["attributes"]
    assert report["spans"]["SEVERITY"]["exact"]["f"] == 1.0 and report["spans"]["overall"]["exact"]["support"] == 10
    assert report["links_gold_spans"]["model"]["overall"]["f"] == 1.0
    # "Cough and severe": the nearest symptom is the first one, a wrong head for the baseline.
    assert report["links_gold_spans"]["baseline"]["SEVERITY"]["f"] == 0.0
    assert report["links_end_to_end"]["overall"]["support"] == 15
    assert "| SITE |" in markdown_table(metrics) and "nearest-entity baseline" in markdown_table(metrics)

    plain = add_context(str(tmp_path / "ruler"), tmp_path / "train.spacy", tmp_path / "plain",
                        clinical_context.default_triggers("en"), 8, True)
    assert plain["attribute_links"] is None
    assert evaluate_model(str(tmp_path / "plain"), tmp_path / "test.spacy", "test")["attributes"] is None
