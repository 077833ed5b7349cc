"""The harmonisation table, the corpus-mix readers and the mix scorer, on tiny
DocBins written here; the real table is checked against the specification."""
from collections import Counter
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

from conftest import ROOT
from med_ner.corpus.reading import ConversionError
from med_ner.training.harmonise import (ANNOTATES_KEY, CORPUS_KEY, load_harmonisation)
from med_ner.training.mix import CorpusMix, CorpusUnion, MixError
from med_ner.training.scorer import score_annotated_labels


TABLE = """\
release_labels: [DISEASE, SYMPTOM, DRUG, BODY_PART, TEST, PROCEDURE]
corpora:
  full:
    annotates: [DISEASE, SYMPTOM, DRUG, BODY_PART, TEST, PROCEDURE]
  chem:
    annotates: [DRUG]
    map: {Chemical: DRUG}
  dis:
    annotates: [DISEASE, SYMPTOM]
    map:
      Disease: {default: DISEASE, if_text_in: {SYMPTOM: symptoms.txt}}
      Other: null
"""


def make_doc(vocab, words, ents, doc_id):
    doc = Doc(vocab, words=words)
    doc.set_ents([Span(doc, s, e, label=label) for s, e, label in ents], default="outside")
    doc.user_data["id"] = doc_id
    return doc


def write_docbin(path: Path, docs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = DocBin(store_user_data=True)
    for doc in docs:
        db.add(doc)
    db.to_disk(path)


@pytest.fixture
def mix_dir(tmp_path):
    """Three tiny corpora (5, 3 and 2 train documents) and their table."""
    vocab = spacy.blank("en").vocab
    (tmp_path / "symptoms.txt").write_text("# listed\nSeizures\n", encoding="utf-8")
    (tmp_path / "table.yml").write_text(TABLE, encoding="utf-8")
    corpora = {
        "full": [make_doc(vocab, ["fever", "and", "aspirin", str(i)], [(0, 1, "SYMPTOM"), (2, 3, "DRUG")], f"full{i}")
                 for i in range(5)],
        "chem": [make_doc(vocab, ["took", "aspirin", "for", "pain", str(i)], [(1, 2, "Chemical")], f"chem{i}")
                 for i in range(3)],
        "dis": [make_doc(vocab, ["seizures", "in", "epilepsy", "x", str(i)],
                         [(0, 1, "Disease"), (2, 3, "Disease"), (3, 4, "Other")], f"dis{i}") for i in range(2)],
    }
    for name, docs in corpora.items():
        for split in ("train", "dev"):
            write_docbin(tmp_path / "corpus" / name / f"{split}.spacy", docs)
    return tmp_path


def test_release_table_maps_as_specified():
    table = load_harmonisation(ROOT / "configs" / "label_harmonisation.yml")
    assert set(table) >= {"MACCROBAT", "sample", "BC5CDR", "NCBI-disease"}
    bc5cdr, ncbi = table["BC5CDR"], table["NCBI-disease"]
    assert bc5cdr.release_label("Chemical", "aspirin") == "DRUG"
    # Endogenous analytes are neither DRUG nor O in BC5CDR.
    assert bc5cdr.release_label("Chemical", "Creatinine") == "missing"
    assert bc5cdr.release_label("Chemical", "bilirubin") == "missing"
    # BC5CDR Disease: symptom texts (as MACCROBAT labels them) become SYMPTOM, the rest DISEASE.
    assert bc5cdr.release_label("Disease", "Seizures") == "SYMPTOM"
    assert bc5cdr.release_label("Disease", "nausea") == "SYMPTOM"
    assert bc5cdr.release_label("Disease", "myocardial infarction") == "DISEASE"
    assert bc5cdr.release_label("Disease", "Parkinson's disease") == "DISEASE"
    assert ncbi.release_label("Disease", "seizures") == "DISEASE"
    assert table["MACCROBAT"].release_label("SYMPTOM", "pain") == "SYMPTOM"
    # MACCROBAT's therapies that Chia and the sample label PROCEDURE are PROCEDURE; drugs stay DRUG.
    assert table["MACCROBAT"].release_label("DRUG", "Chemotherapy") == "PROCEDURE"
    assert table["MACCROBAT"].release_label("DRUG", "general anesthesia") == "PROCEDURE"
    assert table["MACCROBAT"].release_label("DRUG", "cisplatin") == "DRUG"
    assert table["MACCROBAT"].release_label("DRUG", "prednisone") == "DRUG"
    assert [name for name, row in table.items() if row.partial] == ["BC5CDR", "NCBI-disease", "Chia"]
    # Chia: Condition covers symptoms, Procedure diagnostic procedures; the text decides.
    chia = table["Chia"]
    assert chia.release_label("DISEASE", "nausea") == "SYMPTOM"
    assert chia.release_label("DISEASE", "type 2 diabetes mellitus") == "DISEASE"
    assert chia.release_label("PROCEDURE", "MRI") == "TEST"
    assert chia.release_label("PROCEDURE", "radiation therapy") == "PROCEDURE"
    assert chia.release_label("TEST", "HbA1c") == "TEST" and "BODY_PART" not in chia.annotates
    assert set(bc5cdr.annotates) == {"DRUG", "DISEASE", "SYMPTOM"} and ncbi.annotates == ["DISEASE"]
    with pytest.raises(ValueError, match="'Chemical'"):
        ncbi.release_label("Chemical", "aspirin")


def test_bad_table_is_an_error_with_file_and_line(tmp_path):
    path = tmp_path / "table.yml"
    path.write_text(TABLE.replace("Chemical: DRUG", "Chemical: MEDICINE"), encoding="utf-8")
    with pytest.raises(ConversionError, match=r"table.yml:\d+: chem.Chemical: 'MEDICINE' is not a release label"):
        load_harmonisation(path)
    path.write_text(TABLE.replace("map: {Chemical: DRUG}", "map: {Chemical: DISEASE}"), encoding="utf-8")
    with pytest.raises(ConversionError, match="maps onto \\['DISEASE'\\] but 'annotates' does not list them"):
        load_harmonisation(path)


def test_mix_proportions_follow_the_weights(mix_dir):
    weights = {"full": 0.5, "chem": 0.3, "dis": 0.2}
    mix = CorpusMix(mix_dir / "corpus", "train", weights, mix_dir / "table.yml", seed=3)
    draws = Counter(mix.draws(0, 20000))
    for name, weight in weights.items():
        assert abs(draws[name] / 20000 - weight) < 0.015, (name, draws)
    # The examples themselves come from the corpora in those proportions.
    nlp = spacy.blank("en")
    mix = CorpusMix(mix_dir / "corpus", "train", weights, mix_dir / "table.yml", seed=3, epoch_size=3000)
    got = Counter(eg.reference.user_data[CORPUS_KEY] for eg in mix(nlp))
    for name, weight in weights.items():
        assert abs(got[name] / 3000 - weight) < 0.03, (name, got)


def test_mix_is_deterministic_and_each_pass_covers_a_corpus_once(mix_dir):
    nlp = spacy.blank("en")

    def ids(seed, calls=1):
        mix = CorpusMix(mix_dir / "corpus", "train", {"full": 2, "chem": 1, "dis": 1}, mix_dir / "table.yml",
                        seed=seed, epoch_size=60, shuffle_buffer=2)
        return [[eg.reference.user_data["id"] for eg in mix(nlp)] for _ in range(calls)]

    first, second = ids(0, calls=2)
    assert ids(0) == [first]
    assert ids(1) != [first] and second != first  # another seed, another epoch: another order
    full = [i for i in first if i.startswith("full")]
    # A corpus's stream goes pass by pass: every 5 documents of `full` are its 5 documents.
    for start in range(0, len(full) - 4, 5):
        assert sorted(full[start:start + 5]) == [f"full{i}" for i in range(5)]
    assert len(set(tuple(full[s:s + 5]) for s in range(0, len(full) - 4, 5))) > 1  # passes differ in order


def test_partial_corpora_are_missing_outside_their_entities(mix_dir):
    nlp = spacy.blank("en")
    mix = CorpusMix(mix_dir / "corpus", "train", {"full": 1, "chem": 1, "dis": 1}, mix_dir / "table.yml",
                    epoch_size=30)
    seen = {}
    for eg in mix(nlp):
        seen.setdefault(eg.reference.user_data[CORPUS_KEY], eg)
    chem, dis, full = seen["chem"], seen["dis"], seen["full"]
    assert [(e.text, e.label_) for e in chem.reference.ents] == [("aspirin", "DRUG")]
    assert [t.ent_iob_ for t in chem.reference] == ["", "B", "", "", ""]
    assert chem.get_aligned_ner() == [None, "U-DRUG", None, None, None]
    # The table's per-mention rule and its null rule (dropped entity: missing, not O).
    assert [(e.text, e.label_) for e in dis.reference.ents] == [("seizures", "SYMPTOM"), ("epilepsy", "DISEASE")]
    assert dis.get_aligned_ner() == ["U-SYMPTOM", None, "U-DISEASE", None, None]
    assert full.get_aligned_ner() == ["U-SYMPTOM", "O", "U-DRUG", "O"]
    assert chem.reference.user_data[ANNOTATES_KEY] == ["DRUG"]
    # Overridden per corpus: "O" outside the entities.
    mix = CorpusMix(mix_dir / "corpus", "train", {"chem": 1}, mix_dir / "table.yml", outside={"chem": "O"},
                    epoch_size=1)
    assert next(iter(mix(nlp))).get_aligned_ner() == ["O", "U-DRUG", "O", "O", "O"]
    with pytest.raises(MixError, match="must be one of"):
        CorpusMix(mix_dir / "corpus", "train", {"chem": 1}, mix_dir / "table.yml", outside={"chem": "none"})


def test_known_mentions_missing_marks_only_other_labels_mentions(tmp_path):
    """O outside a partial corpus's entities, except texts that the corpora
    annotating a label the partial corpus does not annotate label with it
    (a partial corpus, such as "tests" here, counts for the labels it annotates)."""
    vocab = spacy.blank("en").vocab
    (tmp_path / "symptoms.txt").write_text("seizures\n", encoding="utf-8")
    (tmp_path / "table.yml").write_text(TABLE + "  tests:\n    annotates: [TEST]\n", encoding="utf-8")
    full = [make_doc(vocab, ["chest", "pain", "after", "aspirin"], [(0, 2, "SYMPTOM"), (3, 4, "DRUG")], "full0"),
            make_doc(vocab, ["Chest", "X-ray", "normal"], [(0, 2, "TEST")], "full1"),
            # "be" is an entity in 1 of its 3 occurrences: below the rate, not a known mention.
            make_doc(vocab, ["to", "be", "seen", "be", "be"], [(1, 2, "TEST")], "full2")]
    chem = [make_doc(vocab, ["aspirin", "for", "chest", "pain", "and", "ibuprofen"],
                     [(0, 1, "Chemical"), (5, 6, "Chemical")], "chem0"),
            make_doc(vocab, ["Aspirin", "before", "chest", "x-ray", "and", "platelet", "count"], [], "chem1")]
    tests = [make_doc(vocab, ["platelet", "count", "below", "100"], [(0, 2, "TEST")], "tests0")]
    write_docbin(tmp_path / "corpus" / "full" / "train.spacy", full)
    write_docbin(tmp_path / "corpus" / "chem" / "train.spacy", chem)
    write_docbin(tmp_path / "corpus" / "tests" / "train.spacy", tests)
    mix = CorpusMix(tmp_path / "corpus", "train", {"full": 1, "chem": 1, "tests": 1}, tmp_path / "table.yml",
                    outside={"chem": "known-mentions-missing"}, epoch_size=20)
    assert mix.known[("chest", "pain")] == {"SYMPTOM"} and mix.known[("platelet", "count")] == {"TEST"}
    # chem annotates DRUG: its own O there is a real O, so drug texts are not looked up.
    assert ("be",) not in mix.known and ("aspirin",) not in mix.known
    aligned = {}
    for eg in mix(spacy.blank("en")):
        aligned[eg.reference.user_data["id"]] = eg.get_aligned_ner()
    # "chest pain" is a SYMPTOM text (chem does not annotate SYMPTOM): missing; the rest is O.
    assert aligned["chem0"] == ["U-DRUG", "O", None, None, "O", "U-DRUG"]
    # An unannotated "Aspirin" stays O; "platelet count", a TEST of the tests corpus, is missing.
    assert aligned["chem1"] == ["O", "O", None, None, "O", None, None]
    assert aligned["full0"] == ["B-SYMPTOM", "L-SYMPTOM", "O", "U-DRUG"]
    with pytest.raises(MixError, match="needs a corpus in the mix that annotates \\['BODY_PART'"):
        CorpusMix(tmp_path / "corpus", "train", {"chem": 1, "tests": 1}, tmp_path / "table.yml",
                  outside={"chem": "known-mentions-missing"})


def test_missing_rule_leaves_listed_mentions_unlabelled(tmp_path):
    """A mention listed under `missing` is neither its default label nor O, in
    training and in scoring, and is counted."""
    (tmp_path / "analytes.txt").write_text("creatinine\n", encoding="utf-8")
    (tmp_path / "symptoms.txt").write_text("seizures\n", encoding="utf-8")
    table = TABLE.replace("map: {Chemical: DRUG}",
                          "map: {Chemical: {default: DRUG, if_text_in: {missing: analytes.txt}}}")
    (tmp_path / "table.yml").write_text(table, encoding="utf-8")
    vocab = spacy.blank("en").vocab
    docs = [make_doc(vocab, ["serum", "creatinine", "rose", "after", "cisplatin"],
                     [(1, 2, "Chemical"), (4, 5, "Chemical")], "chem0")]
    write_docbin(tmp_path / "corpus" / "chem" / "train.spacy", docs)
    write_docbin(tmp_path / "corpus" / "chem" / "dev.spacy", docs)
    for outside in ("O", "missing"):
        mix = CorpusMix(tmp_path / "corpus", "train", {"chem": 1}, tmp_path / "table.yml",
                        outside={"chem": outside}, epoch_size=1)
        aligned = next(iter(mix(spacy.blank("en")))).get_aligned_ner()
        assert aligned[1] is None and aligned[4] == "U-DRUG"
        assert aligned[0] == ("O" if outside == "O" else None)
        assert mix.rows["chem"].left_missing == {"Chemical": 1}
    # Scoring: a DRUG predicted on the analyte is neither right nor wrong.
    nlp = spacy.blank("en")
    eg = next(iter(CorpusUnion(tmp_path / "corpus", "dev", ["chem"], tmp_path / "table.yml")(nlp)))
    eg.predicted.set_ents([Span(eg.predicted, 1, 2, label="DRUG"), Span(eg.predicted, 4, 5, label="DRUG")])
    scores = score_annotated_labels([eg])
    assert scores["ents_p"] == 1.0 and scores["ents_r"] == 1.0
    path = tmp_path / "bad.yml"
    path.write_text(table.replace("missing: analytes", "MISSING: analytes"), encoding="utf-8")
    with pytest.raises(ConversionError, match="neither a release label nor 'missing'"):
        load_harmonisation(path)


def test_mix_errors_name_what_is_wrong(mix_dir):
    with pytest.raises(MixError, match="no entry for \\['nope'\\]"):
        CorpusMix(mix_dir / "corpus", "train", {"nope": 1}, mix_dir / "table.yml")
    with pytest.raises(MixError, match="test.spacy"):
        CorpusUnion(mix_dir / "corpus", "test", ["full"], mix_dir / "table.yml")
    with pytest.raises(MixError, match="positive"):
        CorpusMix(mix_dir / "corpus", "train", {"full": 0}, mix_dir / "table.yml")


def test_union_keeps_o_and_the_scorer_scores_only_annotated_labels(mix_dir):
    nlp = spacy.blank("en")
    examples = list(CorpusUnion(mix_dir / "corpus", "dev", ["full", "chem"], mix_dir / "table.yml")(nlp))
    assert [eg.reference.user_data[CORPUS_KEY] for eg in examples] == ["full"] * 5 + ["chem"] * 3
    limited = CorpusUnion(mix_dir / "corpus", "dev", ["full", "chem"], mix_dir / "table.yml", limit={"full": 2})
    assert [eg.reference.user_data["id"] for eg in limited(nlp)] == ["full0", "full1", "chem0", "chem1", "chem2"]
    chem = examples[5]
    assert chem.get_aligned_ner() == ["O", "U-DRUG", "O", "O", "O"]
    predicted = chem.predicted
    # "aspirin" right, "pain" a SYMPTOM that chem does not annotate (ignored), "for" a wrong DRUG (counted).
    predicted.set_ents([Span(predicted, 1, 2, "DRUG"), Span(predicted, 2, 3, "DRUG"), Span(predicted, 3, 4, "SYMPTOM")])
    scores = score_annotated_labels([chem])
    assert (scores["ents_p"], scores["ents_r"]) == (0.5, 1.0)
    assert scores["chem_ents_p"] == 0.5 and "SYMPTOM" not in scores["ents_per_type"]
    # The same prediction on a fully annotated corpus counts the SYMPTOM as wrong.
    full = Example(chem.predicted, chem.reference.copy())
    del full.reference.user_data[ANNOTATES_KEY]
    assert score_annotated_labels([full])["ents_p"] == pytest.approx(1 / 3)
