import pytest
import spacy
from spacy.tokens import DocBin

from conftest import corpus_dir
from med_ner.corpus.conversion import LabelMap
from med_ner.corpus.reading import ConversionError
from med_ner.corpus.iob import convert_iob

CONLL_IOB1 = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

-DOCSTART- -X- O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
met VBD I-VP O
Paris NNP I-NP I-LOC
Rome NNP I-NP B-LOC
"""

TSV_IOB2 = "Naloxone\tB-Chemical\nreverses\tO\nthe\tO\nclonidine\tB-Chemical\n-\tO\ninduced\tO\nhypotension\tB-Disease\n\nacute\tB-Disease\nrenal\tI-Disease\nfailure\tI-Disease\n"


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def ents(path):
    docs = list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))
    return [[(e.text, e.label_) for e in d.ents] for d in docs], docs


def test_conll_iob1_space_separated_with_docstart(tmp_path):
    src = write(tmp_path, "eng.testb", CONLL_IOB1)
    report = convert_iob(src, tmp_path / "out.spacy", LabelMap())
    got, docs = ents(tmp_path / "out.spacy")
    assert report.notes["scheme"] == "iob1"
    # Two documents from two -DOCSTART- blocks; B-LOC separates two adjacent LOC entities.
    assert got == [[("EU", "ORG"), ("German", "MISC")], [("Peter Blackburn", "PER"), ("Paris", "LOC"), ("Rome", "LOC")]]
    assert report.documents_out == 2 and report.tokens == 9 and not report.changed


def test_iob2_tab_separated_groups_sentences(tmp_path):
    src = write(tmp_path, "train.tsv", TSV_IOB2)
    report = convert_iob(src, tmp_path / "out.spacy", LabelMap(), n_sents=1)
    got, docs = ents(tmp_path / "out.spacy")
    assert report.notes["scheme"] == "iob2"
    assert got == [[("Naloxone", "Chemical"), ("clonidine", "Chemical"), ("hypotension", "Disease")],
                   [("acute renal failure", "Disease")]]
    report = convert_iob(src, tmp_path / "out10.spacy", LabelMap(), n_sents=10)
    _, docs = ents(tmp_path / "out10.spacy")
    assert len(docs) == 1 and len(list(docs[0].sents)) == 2


def test_tag_column_is_chosen(tmp_path):
    src = write(tmp_path, "four.txt", "aspirin NN B-NP B-Chemical\nworks VBZ B-VP O\n")
    convert_iob(src, tmp_path / "a.spacy", LabelMap(), tag_column=3)
    assert ents(tmp_path / "a.spacy")[0] == [[("aspirin", "Chemical")]]
    convert_iob(src, tmp_path / "b.spacy", LabelMap(), tag_column=2, scheme="iob2")
    assert ents(tmp_path / "b.spacy")[0] == [[("aspirin", "NP"), ("works", "VP")]]


def test_iob2_i_after_o_is_repaired_and_reported(tmp_path):
    src = write(tmp_path, "x.tsv", "severe\tO\nrenal\tI-Disease\nfailure\tI-Disease\n")
    report = convert_iob(src, tmp_path / "out.spacy", LabelMap(), scheme="iob2")
    assert ents(tmp_path / "out.spacy")[0] == [[("renal failure", "Disease")]]
    assert [(n.line, n.reason.split(":")[0]) for n in report.changed] == [(2, "repaired")]


def test_iob2_type_change_inside_entity_is_an_error(tmp_path):
    src = write(tmp_path, "x.tsv", "ok\tO\n\nrenal\tB-Disease\nfailure\tI-Chemical\n")
    with pytest.raises(ConversionError, match=r"x\.tsv:4: I-Chemical follows B-Disease: cannot tell"):
        convert_iob(src, tmp_path / "out.spacy", LabelMap(), scheme="iob2")


@pytest.mark.parametrize(
    "text,message",
    [
        ("a\tO\nb\tB_Disease\n", r"x\.tsv:2: tag 'B_Disease' is not IOB"),
        ("a\tO\nb\tB-\n", r"x\.tsv:2: tag 'B-' is not IOB"),
        ("a\tO\nb\tE-Disease\n", r"x\.tsv:2: tag 'E-Disease' is not IOB"),
        ("a\tx\tO\nb\tB-Disease\n", r"x\.tsv:2: expected 3 columns like the first token line, found 2"),
        ("\n\n", r"x\.tsv: file is empty"),
    ],
)
def test_bad_iob_names_file_and_line(tmp_path, text, message):
    src = write(tmp_path, "x.tsv", text)
    with pytest.raises(ConversionError, match=message):
        convert_iob(src, tmp_path / "out.spacy", LabelMap())


def test_non_utf8_and_unknown_label(tmp_path):
    src = write(tmp_path, "x.tsv", b"a\tO\n\ncaf\xe9\tB-Disease\n")
    with pytest.raises(ConversionError, match=r"x\.tsv:3: not valid UTF-8"):
        convert_iob(src, tmp_path / "out.spacy", LabelMap())
    src = write(tmp_path, "y.tsv", "a\tO\nb\tB-Gene\n")
    with pytest.raises(ConversionError, match=r"y\.tsv:2: unknown label 'Gene'"):
        convert_iob(src, tmp_path / "out.spacy", LabelMap(["Disease"]))


def test_crlf_and_label_map_drop(tmp_path):
    src = write(tmp_path, "x.tsv", "aspirin\tB-Chemical\r\nrash\tB-Disease\r\n")
    report = convert_iob(src, tmp_path / "out.spacy", LabelMap(["DISEASE"], {"Disease": "DISEASE", "Chemical": None}))
    assert ents(tmp_path / "out.spacy")[0] == [[("rash", "DISEASE")]]
    assert [(n.text, n.line, n.reason.split(":")[0]) for n in report.dropped] == [("aspirin", 1, "unmapped")]
    report.check()


@pytest.mark.integration
@pytest.mark.parametrize(
    "corpus,file,counts,sentences",
    [
        ("CoNLL-2003", "eng.testb", {"PER": 1617, "LOC": 1668, "ORG": 1661, "MISC": 702}, 3453),
        ("BC5CDR", "test.tsv", {"Chemical": 5385, "Disease": 4424}, 4797),
        ("NCBI-disease", "devel.tsv", {"Disease": 787}, 923),
    ],
)
def test_real_corpora_counts_match_their_readmes(tmp_path, corpus, file, counts, sentences):
    src = corpus_dir(corpus) / file
    report = convert_iob(src, tmp_path / "out.spacy", LabelMap())
    assert dict(report.entities_out) == counts
    assert report.notes["sentences"] == sentences
    assert not report.dropped
