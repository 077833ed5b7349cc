"""The clinical_context component: rule scope, the fitted classifier, scoring,
serialisation, and the gold flags the BRAT converter carries."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example

from med_ner.components import clinical_context
from conftest import ROOT, corpus_dir, make_doc

TRIGGERS_EN = clinical_context.default_triggers("en")


@pytest.fixture(scope="module")
def rules_nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("clinical_context", config={"use_model": False}).initialize(
        lambda: [], nlp=nlp, triggers=str(TRIGGERS_EN))
    return nlp


def flags(nlp, text, ents):
    doc = nlp.get_pipe("clinical_context")(make_doc(nlp, text, ents))
    return [(e.text, e._.is_negated, e._.is_uncertain) for e in doc.ents]


def test_preceding_negation_covers_every_entity_in_scope(rules_nlp):
    assert flags(rules_nlp, "The patient denies fever, chills or cough.",
                 [("fever", "SYMPTOM"), ("chills", "SYMPTOM"), ("cough", "SYMPTOM")]) == [
        ("fever", True, False), ("chills", True, False), ("cough", True, False)]


def test_terminator_ends_scope_no_x_but_y(rules_nlp):
    assert flags(rules_nlp, "No fever but severe headache.", [("fever", "SYMPTOM"), ("headache", "SYMPTOM")]) == [
        ("fever", True, False), ("headache", False, False)]


def test_pseudo_negation_does_not_negate(rules_nlp):
    assert flags(rules_nlp, "She had not only fever but also rash.", [("fever", "SYMPTOM"), ("rash", "SYMPTOM")]) == [
        ("fever", False, False), ("rash", False, False)]


def test_scope_stops_at_sentence_end(rules_nlp):
    assert flags(rules_nlp, "There was no rash. Fever persisted.", [("rash", "SYMPTOM"), ("Fever", "SYMPTOM")]) == [
        ("rash", True, False), ("Fever", False, False)]


def test_scope_stops_at_line_break(rules_nlp):
    assert flags(rules_nlp, "No rash\nFever persisted", [("rash", "SYMPTOM"), ("Fever", "SYMPTOM")]) == [
        ("rash", True, False), ("Fever", False, False)]


def test_following_triggers_and_uncertainty(rules_nlp):
    assert flags(rules_nlp, "Steroids were discontinued. Pneumonia was suspected.",
                 [("Steroids", "DRUG"), ("Pneumonia", "DISEASE")]) == [
        ("Steroids", True, False), ("Pneumonia", False, True)]


def test_longer_uncertainty_trigger_silences_the_negation_inside_it(rules_nlp):
    # "could not be excluded" hedges; the "not" inside it must not negate.
    assert flags(rules_nlp, "Sarcoidosis could not be excluded.", [("Sarcoidosis", "DISEASE")]) == [
        ("Sarcoidosis", False, True)]


def test_window_limits_scope():
    nlp = spacy.blank("en")
    nlp.add_pipe("clinical_context", config={"use_model": False, "window": 2}).initialize(
        lambda: [], nlp=nlp, triggers=str(TRIGGERS_EN))
    assert flags(nlp, "No change in size of the large pelvic mass or ascites",
                 [("mass", "SYMPTOM"), ("ascites", "SYMPTOM")]) == [("mass", False, False), ("ascites", False, False)]


def test_cues_are_reported(rules_nlp):
    doc = rules_nlp.get_pipe("clinical_context")(make_doc(rules_nlp, "No evidence of malignancy.", [("malignancy", "DISEASE")]))
    assert doc.ents[0]._.context_cues == ["negation<no evidence of"]


def test_spanish_triggers():
    nlp = spacy.blank("es")
    nlp.add_pipe("clinical_context", config={"use_model": False}).initialize(
        lambda: [], nlp=nlp, triggers=str(clinical_context.default_triggers("es")))
    assert flags(nlp, "El paciente niega fiebre pero refiere tos.", [("fiebre", "Concept"), ("tos", "Concept")]) == [
        ("fiebre", True, False), ("tos", False, False)]
    assert flags(nlp, "Sin dolor abdominal.", [("dolor abdominal", "Concept")]) == [("dolor abdominal", True, False)]


def test_shipped_triggers_are_the_default(tmp_path, monkeypatch):
    """The library reads its triggers from package data, never from the checkout
    (any working directory does)."""
    monkeypatch.chdir(tmp_path)
    nlp = spacy.blank("es")
    component = nlp.add_pipe("clinical_context", config={"use_model": False})
    component.initialize(lambda: [], nlp=nlp)
    assert component.triggers == clinical_context.load_triggers(clinical_context.default_triggers("es"))
    assert "niega" in component.triggers["negation_preceding"]
    for lang in ("en", "es"):
        shipped = clinical_context.default_triggers(lang)
        assert Path(str(shipped)).parent.parent == Path(clinical_context.__file__).parent
        assert json.loads(shipped.read_text(encoding="utf-8"))["negation_preceding"]


def test_a_language_without_shipped_triggers_names_the_setting():
    nlp = spacy.blank("de")
    with pytest.raises(ValueError, match="de.json not found.*triggers"):
        nlp.add_pipe("clinical_context").initialize(lambda: [], nlp=nlp)


def test_bad_trigger_file_names_the_problem(tmp_path):
    bad = tmp_path / "xx.json"
    bad.write_text(json.dumps({"negation_preceding": ["no"]}), encoding="utf-8")
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="xx.json: trigger file lacks negation_following"):
        nlp.add_pipe("clinical_context").initialize(lambda: [], nlp=nlp, triggers=str(bad))
    with pytest.raises(ValueError, match="not found"):
        nlp.get_pipe("clinical_context").initialize(lambda: [], nlp=nlp, triggers=str(tmp_path / "missing.json"))


def corpus_convention_examples(nlp):
    """A corpus whose convention the rules cannot know: anatomy beside a
    negated finding is not negated, and "settled" negates."""
    docs = []
    for i in range(20):
        docs.append(make_doc(nlp, f"No tumour was seen in the liver {i}.", [("tumour", "DISEASE"), ("liver", "BODY_PART")],
                             ["NEG", None]))
        docs.append(make_doc(nlp, f"The cough settled on day {i}.", [("cough", "SYMPTOM")], ["NEG"]))
        docs.append(make_doc(nlp, f"A mass was found in the kidney {i}.", [("mass", "SYMPTOM"), ("kidney", "BODY_PART")],
                             [None, None]))
        docs.append(make_doc(nlp, f"Lymphoma was suspected in case {i}.", [("Lymphoma", "DISEASE")], ["UNCERTAIN"]))
    return [Example(d, d) for d in docs]


def test_classifier_learns_corpus_conventions(tmp_path):
    nlp = spacy.blank("en")
    component = nlp.add_pipe("clinical_context")
    examples = corpus_convention_examples(nlp)
    component.initialize(lambda: examples, nlp=nlp, triggers=str(TRIGGERS_EN))
    assert set(component.models) == {"negated", "uncertain"}
    text = "No tumour was seen in the liver. The rash settled. Myeloma was suspected."
    ents = [("tumour", "DISEASE"), ("liver", "BODY_PART"), ("rash", "SYMPTOM"), ("Myeloma", "DISEASE")]
    expected = [("tumour", True, False), ("liver", False, False), ("rash", True, False), ("Myeloma", False, True)]
    assert flags(nlp, text, ents) == expected
    # The rules alone get the anatomy and "settled" wrong: the classifier is what learned them.
    rules = spacy.blank("en")
    rules.add_pipe("clinical_context", config={"use_model": False}).initialize(lambda: [], nlp=rules, triggers=str(TRIGGERS_EN))
    assert flags(rules, text, ents) != expected
    # Saved and loaded, the pipeline gives the same flags.
    nlp.to_disk(tmp_path / "pipeline")
    assert flags(spacy.load(tmp_path / "pipeline"), text, ents) == expected


def test_score_counts_matching_spans_only():
    nlp = spacy.blank("en")
    nlp.add_pipe("clinical_context", config={"use_model": False}).initialize(lambda: [], nlp=nlp, triggers=str(TRIGGERS_EN))
    text = "She denies chest pain and nausea."
    gold = make_doc(nlp, text, [("chest pain", "SYMPTOM"), ("nausea", "SYMPTOM")], ["NEG", None])
    # Predicted: "pain" (wrong span) and "nausea", both negated by the rules.
    predicted = nlp.get_pipe("clinical_context")(make_doc(nlp, text, [("pain", "SYMPTOM"), ("nausea", "SYMPTOM")]))
    scores = nlp.get_pipe("clinical_context").score([Example(predicted, gold)])
    assert (scores["negated_p"], scores["negated_r"], scores["negated_support"]) == (0.0, 0.0, 1)
    unannotated = make_doc(nlp, text, [("nausea", "SYMPTOM")])
    assert nlp.get_pipe("clinical_context").score([Example(unannotated, unannotated)])["negated_f"] is None


def test_maccrobat_polarity_reaches_gold_flags(tmp_path):
    """Real MACCROBAT documents: the converter's attributes become gold flags."""
    source = corpus_dir("MACCROBAT") / "MACCROBAT2020"
    from med_ner.corpus.conversion import LabelMap
    from med_ner.corpus.brat import convert_brat

    ids = sorted(p.stem for p in source.glob("*.ann"))[:15]
    ann_neg = sum(1 for i in ids for line in (source / f"{i}.ann").read_text(encoding="utf-8").splitlines()
                  if line.startswith("A") and line.split()[1:2] == ["POLARITY"] and line.split()[-1] == "NEG")
    out, ids_path = tmp_path / "mac.spacy", tmp_path / "ids.txt"
    ids_path.write_text("\n".join(ids) + "\n", encoding="utf-8")
    convert_brat(source, out, LabelMap.from_file(ROOT / "assets" / "labels" / "maccrobat.json"), ids_path=ids_path)
    nlp = spacy.blank("en")
    docs = list(DocBin().from_disk(out).get_docs(nlp.vocab))
    negated = sum(1 for d in docs for e in d.ents if "negated" in clinical_context.gold_flags(d, e))
    assert 0 < negated <= ann_neg
