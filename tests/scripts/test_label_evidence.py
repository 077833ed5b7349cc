"""scripts/label_evidence.py: how reference corpora and a term list label one
source label's mention texts, and the rule list it writes."""
import json
import subprocess
import sys

import pytest
import spacy
import srsly
from spacy.tokens import Doc, DocBin, Span

from conftest import ROOT


def make_doc(vocab, words, ents, doc_id):
    doc = Doc(vocab, words=words)
    doc.set_ents([Span(doc, s, e, label=label) for s, e, label in ents], default="outside")
    doc.user_data["id"] = doc_id
    return doc


def write_docbin(path, docs) -> None:
    DocBin(docs=docs, store_user_data=True).to_disk(path)


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_label_evidence_classes_mentions_and_writes_the_rule_list(tmp_path):
    vocab = spacy.blank("en").vocab
    write_docbin(tmp_path / "source.spacy", [
        make_doc(vocab, ["pain", "and", "stroke", "and", "toxicity"], [(0, 1, "Disease"), (2, 3, "Disease"), (4, 5, "Disease")], "s1"),
        make_doc(vocab, ["pain", "again"], [(0, 1, "Disease")], "s2"),
    ])
    write_docbin(tmp_path / "reference.spacy", [
        make_doc(vocab, ["pain", "after", "stroke", "with", "Pain"], [(0, 1, "SYMPTOM"), (2, 3, "DISEASE"), (4, 5, "SYMPTOM")], "r1"),
    ])
    (tmp_path / "terms.jsonl").write_text("\n".join(json.dumps(t) for t in [
        {"term": "pain", "type": "SYMPTOM"}, {"term": "stroke", "type": "SYMPTOM"}, {"term": "stroke", "type": "DISEASE"},
    ]) + "\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "label_evidence.py"), "--source", str(tmp_path / "source.spacy"),
                           "--label", "Disease", "--reference", str(tmp_path / "reference.spacy"),
                           "--vocabulary", str(tmp_path / "terms.jsonl"), "--output", str(tmp_path / "evidence.json"),
                           "--write-list", str(tmp_path / "symptoms.txt")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    evidence = srsly.read_json(tmp_path / "evidence.json")
    by_reference = {k: (v["mentions"], v["texts"]) for k, v in evidence["by_reference_labels"].items()}
    assert by_reference == {"SYMPTOM": (2, 1), "DISEASE": (1, 1), "none": (1, 1)}
    assert evidence["by_reference_labels"]["SYMPTOM"]["top"] == [["pain", 2, {"SYMPTOM": 2}]]
    assert {k: v["mentions"] for k, v in evidence["by_vocabulary"].items()} == {"SYMPTOM": 2, "both": 1, "none": 1}
    assert [line for line in (tmp_path / "symptoms.txt").read_text().splitlines() if not line.startswith("#")] == ["pain"]
    assert evidence["list"]["source_mentions_listed"] == 2
