"""attribute_rules: fixed-form doses, routes, frequencies and durations, added
beside the trained spans without overlapping them (a dose per kilogram takes
the place of a LAB_VALUE it covers); saved with the pipeline."""
import pytest
import spacy
from spacy.tokens import Span

from med_ner.components.attribute_rules import default_patterns


def rules_pipeline():
    nlp = spacy.blank("en")
    nlp.add_pipe("attribute_rules").initialize(nlp=nlp)
    return nlp


def spans(doc):
    return [(s.text, s.label_) for s in doc.spans["attributes"]]


def test_prescription_forms(tmp_path):
    nlp = rules_pipeline()
    assert spans(nlp("Amoxicillin 500 mg orally three times daily for 7 days.")) == [
        ("500 mg", "DOSAGE"), ("orally", "ROUTE"), ("three times daily", "FREQUENCY"), ("7 days", "DURATION")]
    assert spans(nlp("Vancomycin 1 g IV q12h, then 2 tablets twice a day.")) == [
        ("1 g", "DOSAGE"), ("IV", "ROUTE"), ("q12h", "FREQUENCY"), ("2 tablets", "DOSAGE"),
        ("twice a day", "FREQUENCY")]
    # "3 days later" is a time, not a duration: no "for" before it.
    assert spans(nlp("He returned 3 days later.")) == []
    nlp.to_disk(tmp_path / "pipe")
    assert spans(spacy.load(tmp_path / "pipe")("Metformin 850 mg PO BID.")) == [
        ("850 mg", "DOSAGE"), ("PO", "ROUTE"), ("BID", "FREQUENCY")]


def test_trained_spans_win_and_scores_stay_aligned():
    nlp = spacy.blank("en")

    @spacy.Language.component("test_one_attribute")
    def one_attribute(doc):
        doc.spans["attributes"] = [Span(doc, 1, 3, "LAB_VALUE")]
        doc.spans["attributes"].attrs["scores"] = [0.7]
        return doc

    nlp.add_pipe("test_one_attribute")
    nlp.add_pipe("attribute_rules").initialize(nlp=nlp)
    doc = nlp("Given 40 mg orally.")
    assert spans(doc) == [("40 mg", "LAB_VALUE"), ("orally", "ROUTE")]
    assert [round(float(x), 2) for x in doc.spans["attributes"].attrs["scores"]] == [0.7, 1.0]


def test_doses_with_thin_spaces_fused_units_and_rates_but_not_concentrations():
    nlp = rules_pipeline()
    text = ("VPA 500\u200amg orally; heparin 0.6ml; norepinephrine 0.4µg/kg/min and remifentanil 0.25 μg/kg/min; "
            "voriconazole 6 mg/kg; CRP 16.7\u200amg/L (normal <5\u200amg/L), ferritin 1700 µg / L")
    found = spans(nlp(text))
    assert [t for t, label in found if label == "DOSAGE"] == [
        "500\u200amg", "0.6ml", "0.4µg/kg/min", "0.25 μg/kg/min", "6 mg/kg"]
    assert ("orally", "ROUTE") in found


def test_a_dose_per_kilogram_takes_the_place_of_a_lab_value_it_covers_and_no_other_span():
    nlp = spacy.blank("en")

    @spacy.Language.component("test_value_spans")
    def value_spans(doc):
        # "0.15 μg/kg" read as a value; "7 mg" inside a longer LAB_VALUE; "10 %" as a SEVERITY.
        doc.spans["attributes"] = [Span(doc, 1, 5, "LAB_VALUE"), Span(doc, 7, 11, "SEVERITY"),
                                   Span(doc, 13, 18, "LAB_VALUE")]
        doc.spans["attributes"].attrs["scores"] = [0.6, 0.7, 0.8]
        return doc

    nlp.add_pipe("test_value_spans")
    nlp.add_pipe("attribute_rules").initialize(nlp=nlp)
    doc = nlp("Cisatracurium 0.15 μg / kg ; drip 2 mg/kg ; level 7 mg / kg or more")
    assert [t.text for t in doc][7:18] == ["2", "mg", "/", "kg", ";", "level", "7", "mg", "/", "kg", "or"]
    assert spans(doc) == [("0.15 μg / kg", "DOSAGE"), ("2 mg/kg", "SEVERITY"), ("7 mg / kg or", "LAB_VALUE")]
    assert [round(float(x), 2) for x in doc.spans["attributes"].attrs["scores"]] == [1.0, 0.7, 0.8]


def test_a_bad_pattern_file_is_an_error(tmp_path):
    (tmp_path / "bad.json").write_text('{"patterns": [{"pattern": []}]}', encoding="utf-8")
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="bad.json: a pattern file is"):
        nlp.add_pipe("attribute_rules").initialize(nlp=nlp, patterns=str(tmp_path / "bad.json"))
    assert default_patterns("en").is_file()


def test_routes_nest_in_a_trained_dosage():
    nlp = spacy.blank("en")

    @spacy.Language.component("test_long_dosage")
    def long_dosage(doc):
        doc.spans["attributes"] = [Span(doc, 1, 7, "DOSAGE"), Span(doc, 9, 11, "LAB_VALUE")]
        return doc

    nlp.add_pipe("test_long_dosage")
    nlp.add_pipe("attribute_rules").initialize(nlp=nlp)
    doc = nlp("Amoxicillin 500 mg orally three times daily ; hemoglobin 7 mg orally")
    # Inside the DOSAGE: its route, not a second dose; inside the LAB_VALUE nothing.
    assert spans(doc) == [("500 mg orally three times daily", "DOSAGE"), ("orally", "ROUTE"),
                          ("7 mg", "LAB_VALUE"), ("orally", "ROUTE")]
    nlp.remove_pipe("attribute_rules")
    nlp.add_pipe("attribute_rules", config={"nested": [["DOSAGE", "ROUTE"], ["DOSAGE", "FREQUENCY"]]}).initialize(
        nlp=nlp)
    doc = nlp("Amoxicillin 500 mg orally three times daily ; hemoglobin 7 mg")
    assert ("three times daily", "FREQUENCY") in spans(doc)
    nlp.remove_pipe("attribute_rules")
    nlp.add_pipe("attribute_rules", config={"nested": []}).initialize(nlp=nlp)
    assert spans(nlp("Amoxicillin 500 mg orally three times daily ; hemoglobin 7 mg orally")) == [
        ("500 mg orally three times daily", "DOSAGE"), ("7 mg", "LAB_VALUE"), ("orally", "ROUTE")]
