"""analyte_labels: a DRUG that names an analyte in a lab-result sentence becomes
a TEST, keeping its other extension values; add-context puts it after trim_entities."""
import spacy
from spacy.language import Language
from spacy.tokens import DocBin, Span

from med_ner.components import clinical_context
from med_ner.packaging.add_context import add_context

if not Span.has_extension("test_score"):
    Span.set_extension("test_score", default=None)


@Language.component("test_scores_entities")
def score_entities(doc):
    for ent in doc.ents:
        ent._.test_score = 0.9
    return doc


def ruler_pipeline():
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "DRUG", "pattern": [{"LOWER": w}]}
                                               for w in ("creatinine", "aspirin", "cortisol")])
    return nlp


def test_relabels_only_analytes_in_lab_results(tmp_path):
    (tmp_path / "analytes.txt").write_text("# analytes\ncreatinine\ncortisol\n", encoding="utf-8")
    nlp = ruler_pipeline()
    nlp.add_pipe("test_scores_entities")
    nlp.add_pipe("analyte_labels").initialize(nlp=nlp, analytes=str(tmp_path / "analytes.txt"))
    doc = nlp("Serum creatinine rose to 2.1 mg/dL after aspirin. Creatinine clearance was not measured.")
    assert [(e.text, e.label_, e._.test_score) for e in doc.ents] == [
        ("creatinine", "TEST", 0.9), ("aspirin", "DRUG", 0.9), ("Creatinine", "DRUG", 0.9)]
    nlp.to_disk(tmp_path / "pipe")
    loaded = spacy.load(tmp_path / "pipe")
    assert [e.label_ for e in loaded("Cortisol 447 nmol/L.").ents] == ["TEST"]


def test_add_context_puts_it_after_trim_entities(tmp_path):
    (tmp_path / "analytes.txt").write_text("creatinine\n", encoding="utf-8")
    nlp = ruler_pipeline()
    nlp.to_disk(tmp_path / "ruler")
    DocBin(docs=[nlp("No aspirin.")]).to_disk(tmp_path / "train.spacy")
    info = add_context(str(tmp_path / "ruler"), tmp_path / "train.spacy", tmp_path / "final",
                       clinical_context.default_triggers("en"), 8, True, analytes=tmp_path / "analytes.txt")
    assert info["analytes"] == str(tmp_path / "analytes.txt")
    final = spacy.load(tmp_path / "final")
    assert final.pipe_names == ["split_tokens", "entity_ruler", "trim_entities", "analyte_labels", "clinical_context"]
    doc = final("Her creatinine was 2.1 mg/dL; no creatinine-lowering drug was given.")
    assert [(e.text, e.label_) for e in doc.ents][0] == ("creatinine", "TEST")
