"""Teacher-filled silver labels (med_ner.corpus.teacher, `teacher-fill`): which
predictions are kept, that gold stays apart, and that the mix reader trains on
them only when its config names the span key. The teacher is a small spaCy NER
trained here on a fully annotated toy corpus."""
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from typer.testing import CliRunner

from conftest import ROOT
from med_ner.cli import app
from med_ner.training.harmonise import CorpusLabels, TextRule, harmonise_doc
from med_ner.training.mix import CorpusMix, CorpusUnion, MixError
from med_ner.corpus.teacher import TEACHER_SPANS_KEY, TeacherError, check_teacher, silver_spans

RELEASE = ["DISEASE", "SYMPTOM", "DRUG", "BODY_PART", "TEST", "PROCEDURE"]
TABLE = {"release_labels": RELEASE,
         "corpora": {"full": {"annotates": RELEASE},
                     "chem": {"annotates": ["DRUG"], "map": {"Chemical": "DRUG"}}}}
CHEM = CorpusLabels("chem", ["DRUG"], RELEASE, {"Chemical": TextRule("DRUG")})
# "aspirin" (gold DRUG) "for" "fever" "in" "the" "brain" "."
WORDS = ["aspirin", "for", "fever", "in", "the", "brain", "."]


def doc_with(vocab, words, ents):
    doc = Doc(vocab, words=words)
    doc.set_ents([Span(doc, s, e, label=label) for s, e, label in ents], default="outside")
    return doc


def test_silver_keeps_unannotated_labels_off_the_gold_entities():
    vocab = spacy.blank("en").vocab
    gold = doc_with(vocab, WORDS, [(0, 1, "DRUG")])
    predicted = doc_with(vocab, WORDS, [(0, 2, "SYMPTOM"), (2, 3, "SYMPTOM"), (5, 6, "BODY_PART")])
    kept, tally = silver_spans(gold, predicted, ["DRUG"])
    assert [(s.text, s.label_) for s in kept] == [("fever", "SYMPTOM"), ("brain", "BODY_PART")]
    assert tally == {"kept: SYMPTOM": 1, "kept: BODY_PART": 1, "dropped, overlaps a gold entity: SYMPTOM": 1}
    # A prediction of a label the corpus annotates is not silver: the corpus's own "no DRUG" is gold.
    predicted = doc_with(vocab, WORDS, [(5, 6, "DRUG")])
    kept, tally = silver_spans(gold, predicted, ["DRUG"])
    assert kept == [] and tally == {"dropped, label annotated by the corpus: DRUG": 1}


def test_harmonise_adds_silver_only_when_the_key_is_given():
    vocab = spacy.blank("en").vocab

    def chem_doc():
        doc = doc_with(vocab, WORDS, [(0, 1, "Chemical")])
        # Silver BODY_PART is kept; silver DRUG (annotated by chem) and silver overlapping gold are not.
        doc.spans[TEACHER_SPANS_KEY] = [Span(doc, 5, 6, "BODY_PART"), Span(doc, 2, 3, "DRUG"),
                                        Span(doc, 0, 2, "TEST")]
        return doc

    filled = harmonise_doc(chem_doc(), CHEM, "O", silver_key=TEACHER_SPANS_KEY)
    assert [(e.text, e.label_) for e in filled.ents] == [("aspirin", "DRUG"), ("brain", "BODY_PART")]
    assert [t.ent_iob_ for t in filled] == ["B", "O", "O", "O", "O", "B", "O"]
    plain = harmonise_doc(chem_doc(), CHEM, "O")
    assert [(e.text, e.label_) for e in plain.ents] == [("aspirin", "DRUG")]
    # With "missing" outside, silver entities are still entities and the rest stays missing.
    missing = harmonise_doc(chem_doc(), CHEM, "missing", silver_key=TEACHER_SPANS_KEY)
    assert [t.ent_iob_ for t in missing] == ["B", "", "", "", "", "B", ""]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A blank-English NER trained to tag fever (SYMPTOM), aspirin (DRUG) and brain (BODY_PART)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ner")
    sentences = [(["fever", "and", "aspirin", "hurt", "the", "brain", "."], [(0, 1, "SYMPTOM"), (2, 3, "DRUG"),
                                                                            (5, 6, "BODY_PART")]),
                 (["the", "brain", "had", "fever", "."], [(1, 2, "BODY_PART"), (3, 4, "SYMPTOM")]),
                 (["aspirin", "was", "given", "."], [(0, 1, "DRUG")])]
    examples = []
    for words, ents in sentences:
        gold = doc_with(nlp.vocab, words, ents)
        examples.append(Example(Doc(nlp.vocab, words=words), gold))
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(40):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    out = tmp_path_factory.mktemp("teacher") / "model"
    nlp.to_disk(out)
    return out


def write_corpora(root: Path):
    vocab = spacy.blank("en").vocab
    chem = [doc_with(vocab, ["aspirin", "for", "fever", "in", "the", "brain", "."], [(0, 1, "Chemical")]),
            doc_with(vocab, ["the", "brain", "took", "aspirin", "."], [(3, 4, "Chemical")])]
    full = [doc_with(vocab, ["fever", "and", "aspirin", "."], [(0, 1, "SYMPTOM"), (2, 3, "DRUG")])]
    for name, docs in (("chem", chem), ("full", full)):
        for split in ("train", "dev"):
            db = DocBin(store_user_data=True, docs=docs)
            (root / "corpus" / name).mkdir(parents=True, exist_ok=True)
            db.to_disk(root / "corpus" / name / f"{split}.spacy")
    srsly.write_yaml(root / "table.yml", TABLE)


def med_ner(*args):
    return subprocess.run([sys.executable, "-m", "med_ner", *map(str, args)], capture_output=True, text=True,
                          cwd=str(ROOT))


def test_teacher_fill_writes_silver_apart_from_gold_and_the_mix_trains_on_it(tmp_path, teacher):
    write_corpora(tmp_path)
    out = tmp_path / "filled"
    proc = med_ner("teacher-fill", teacher, "--corpora", "chem", "--corpus-dir", tmp_path / "corpus",
                   "--harmonisation", tmp_path / "table.yml", "--output", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = srsly.read_json(out / "chem" / "reports" / "teacher_train.json")
    assert report["documents"] == 2 and report["gold_entities"] == 2
    assert report["filled_labels"] == ["DISEASE", "SYMPTOM", "BODY_PART", "TEST", "PROCEDURE"]
    # The teacher's aspirin is DRUG, a label chem annotates: dropped, counted, never silver.
    assert report["silver_kept"].get("BODY_PART") == 2 and "DRUG" not in report["silver_kept"]
    assert report["teacher_predictions"].get("dropped, label annotated by the corpus: DRUG", 0) >= 1
    assert f"{report['silver_kept_total']} silver mentions kept" in proc.stdout

    vocab = spacy.blank("en").vocab
    docs = list(DocBin().from_disk(out / "chem" / "train.spacy").get_docs(vocab))
    assert [[(e.text, e.label_) for e in d.ents] for d in docs] == [[("aspirin", "Chemical")], [("aspirin", "Chemical")]]
    assert all(s.label_ != "DRUG" for d in docs for s in d.spans[TEACHER_SPANS_KEY])
    assert ("brain", "BODY_PART") in [(s.text, s.label_) for s in docs[1].spans[TEACHER_SPANS_KEY]]
    # Every other split and corpus is copied unchanged.
    for rel in ("chem/dev.spacy", "full/train.spacy", "full/dev.spacy"):
        assert (out / rel).read_bytes() == (tmp_path / "corpus" / rel).read_bytes()

    nlp = spacy.blank("en")
    mix = CorpusMix(out, "train", {"chem": 1}, tmp_path / "table.yml", outside={"chem": "O"}, epoch_size=2,
                    silver_spans_key=TEACHER_SPANS_KEY)
    trained_on = {" ".join(t.text for t in eg.reference): [(e.text, e.label_) for e in eg.reference.ents] for eg in mix(nlp)}
    assert ("brain", "BODY_PART") in trained_on["the brain took aspirin ."]
    assert ("aspirin", "DRUG") in trained_on["the brain took aspirin ."]
    gold_only = CorpusMix(out, "train", {"chem": 1}, tmp_path / "table.yml", outside={"chem": "O"}, epoch_size=2)
    assert all(lab == "DRUG" for eg in gold_only(nlp) for _, lab in [(e.text, e.label_) for e in eg.reference.ents])
    # A key that the corpora do not hold is an error, not a silent gold-only run.
    with pytest.raises(MixError, match="no partially annotated corpus of the mix has doc.spans\\['teacher'\\]"):
        CorpusMix(tmp_path / "corpus", "train", {"chem": 1}, tmp_path / "table.yml", silver_spans_key="teacher")
    # Dev is gold only, whatever the train reader does.
    dev = CorpusUnion(out, "dev", ["chem"], tmp_path / "table.yml")
    assert all(e.label_ == "DRUG" for eg in dev(nlp) for e in eg.reference.ents)


def test_teacher_fill_bad_input_is_an_error_before_work(tmp_path, teacher):
    write_corpora(tmp_path)
    common = ["--corpus-dir", tmp_path / "corpus", "--harmonisation", tmp_path / "table.yml"]
    cases = [
        (["teacher-fill", teacher, "--corpora", "full", *common, "--output", tmp_path / "o1"],
         "corpus 'full' annotates every release label"),
        (["teacher-fill", teacher, "--corpora", "nope", *common, "--output", tmp_path / "o2"], "no entry for corpus 'nope'"),
        (["teacher-fill", tmp_path / "no-model", "--corpora", "chem", *common, "--output", tmp_path / "o3"],
         "cannot load pipeline"),
        (["teacher-fill", teacher, "--corpora", "chem", *common, "--output", tmp_path / "corpus"], "is --corpus-dir"),
        (["teacher-fill", teacher, "--corpora", "chem", *common, "--split", "test", "--output", tmp_path / "o4"],
         "not found: "),
    ]
    for args, message in cases:
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))


def test_a_teacher_with_labels_outside_the_release_is_refused():
    nlp = spacy.blank("en")
    nlp.add_pipe("ner").add_label("Chemical")
    with pytest.raises(TeacherError, match=r"\['Chemical'\], which are not release labels"):
        check_teacher(nlp, RELEASE)
    with pytest.raises(TeacherError, match="no 'ner' component"):
        check_teacher(spacy.blank("en"), RELEASE)
