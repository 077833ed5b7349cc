"""The installed wheel's check scores gold labels as `evaluate mix` does: mapped
through the headline corpus's row of the harmonisation table, other annotations kept."""
import spacy
from conftest import ROOT
from spacy.tokens import DocBin, Span

from med_ner.packaging.evaluate_package import write_harmonised
from med_ner.training.harmonise import ANNOTATES_KEY, load_harmonisation


def test_gold_labels_go_through_the_table_row(tmp_path):
    nlp = spacy.blank("en")
    doc = nlp("She received chemotherapy and cisplatin 50 mg .")
    doc.ents = [Span(doc, 2, 3, "DRUG"), Span(doc, 4, 5, "DRUG")]
    doc.spans["attributes"] = [Span(doc, 5, 7, "DOSAGE")]
    doc.user_data["links"] = [[40, 45, 30, 39]]
    DocBin(docs=[doc], store_user_data=True).to_disk(tmp_path / "test.spacy")
    table = load_harmonisation(ROOT / "configs" / "label_harmonisation.yml")
    out = write_harmonised(tmp_path / "test.spacy", table["MACCROBAT"], tmp_path / "gold.spacy")
    (gold,) = DocBin(store_user_data=True).from_disk(out).get_docs(nlp.vocab)
    assert [(e.text, e.label_) for e in gold.ents] == [("chemotherapy", "PROCEDURE"), ("cisplatin", "DRUG")]
    assert [(s.text, s.label_) for s in gold.spans["attributes"]] == [("50 mg", "DOSAGE")]
    assert [list(link) for link in gold.user_data["links"]] == [[40, 45, 30, 39]]
    assert list(gold.user_data[ANNOTATES_KEY]) == table["MACCROBAT"].annotates
