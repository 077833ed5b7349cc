import re
import subprocess
import sys
import time
from collections import Counter

import pytest
import spacy
import srsly
from spacy.tokens import DocBin

from conftest import ROOT, corpus_dir, maccrobat_all_ids
from med_ner.corpus.conversion import LabelMap
from med_ner.corpus.reading import ConversionError
from med_ner.corpus.brat import convert_brat
from med_ner.corpus.split import write_split

MACCROBAT_MAP = ROOT / "assets" / "labels" / "maccrobat.json"
EHEALTH_MAP = ROOT / "assets" / "labels" / "ehealthkd.json"
LABELS = LabelMap.from_file(MACCROBAT_MAP)


def t_line(tid, label, text, *subs, nth=0):
    """A T line for the substrings `subs` of `text` (several: one fragment each, in order)."""
    frags, pos = [], -1
    for i, sub in enumerate(subs):
        for _ in range(nth + 1 if i == 0 else 1):
            pos = text.index(sub, pos + 1)
        frags.append((pos, pos + len(sub)))
        pos += len(sub) - 1
    offsets = ";".join(f"{s} {e}" for s, e in frags)
    return f"{tid}\t{label} {offsets}\t{' '.join(text[s:e] for s, e in frags)}"


def write_pair(folder, stem, text, ann_lines, newline="\n"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.txt").write_bytes(text.encode("utf-8"))
    (folder / f"{stem}.ann").write_bytes("".join(line + newline for line in ann_lines).encode("utf-8"))
    return folder / f"{stem}.txt"


def read_docs(path, lang="en"):
    return list(DocBin().from_disk(path).get_docs(spacy.blank(lang).vocab))


def ents(doc):
    return [(e.text, e.label_) for e in doc.ents]


def convert(tmp_path, source, label_map=LABELS, **kwargs):
    out = tmp_path / "out.spacy"
    report = convert_brat(source, out, label_map, **kwargs)
    report.check()
    return report, read_docs(out, kwargs.get("lang", "en"))


TEXT = "Patient denies fever but has severe headache.\nAspirin was given; CRP rose.\n"


def good_ann(text=TEXT):
    return [
        t_line("T1", "Sign_symptom", text, "fever"),
        "E1\tSign_symptom:T1 ",  # trailing space, as in MACCROBAT
        t_line("T2", "Severity", text, "severe"),
        "R1\tMODIFY Arg1:T2 Arg2:E2\t",  # trailing TAB, as in MACCROBAT
        t_line("T3", "Sign_symptom", text, "headache"),
        "E2\tSign_symptom:T3 ",
        t_line("T4", "Medication", text, "Aspirin") + "\t\u2005",  # stray trailing whitespace after the text
        "E3\tMedication:T4 ",
        t_line("T5", "Diagnostic_procedure", text, "CRP"),
        "A1\tPOLARITY E1 NEG",
        "A2\tTREND T5 INC",
        "A3\tPOLARITY E2 MAYBE_POS",
        "A4\tPOLARITY T2 UNCERTAIN",  # on an entity the label map drops
        "A5\tNEGATED E3",  # binary attribute, no value
        "*\tOVERLAP E1 E2",
        "#1\tAnnotatorNotes T1\tfree text note",
        "",
    ]


def test_good_input_with_attributes_round_trips(tmp_path):
    src = write_pair(tmp_path / "in", "doc1", TEXT, good_ann())
    report, docs = convert(tmp_path, src.parent)
    (doc,) = docs
    assert ents(doc) == [("fever", "SYMPTOM"), ("headache", "SYMPTOM"), ("Aspirin", "DRUG"), ("CRP", "TEST")]
    assert [(s.text, s.label_) for s in doc.spans["brat"]] == ents(doc)
    assert doc.user_data["id"] == "doc1" and doc.text == TEXT
    fever, headache, aspirin, crp = doc.ents
    key = lambda span: f"{span.start_char}:{span.end_char}"  # noqa: E731
    assert doc.user_data["ent_attrs"] == {
        key(fever): {"POLARITY": "NEG"}, key(headache): {"POLARITY": "MAYBE_POS"},
        key(aspirin): {"NEGATED": True}, key(crp): {"TREND": "INC"},
    }
    assert report.notes["attributes"] == {"kept": 4, "on_dropped_entities": 1}
    assert report.notes["ignored_lines"] == {"E": 3, "R": 1, "*": 1, "#": 1}
    assert dict(report.entities_in) == {"Sign_symptom": 2, "Severity": 1, "Medication": 1, "Diagnostic_procedure": 1}
    assert [(n.label, n.text, n.line, n.reason) for n in report.dropped] == [
        ("Severity", "severe", 3, "unmapped: label map drops this label")
    ]
    assert not report.changed and report.documents_in == report.documents_out == 1
    assert [s.text for s in doc.sents] == ["Patient denies fever but has severe headache.\n", "Aspirin was given; CRP rose.\n"]


def test_no_split_sentences_leaves_sentence_starts_unset(tmp_path):
    src = write_pair(tmp_path / "in", "doc1", TEXT, good_ann())
    _, (doc,) = convert(tmp_path, src, split_sentences=False)
    assert not doc.has_annotation("SENT_START")


def test_single_file_input_by_txt_or_ann(tmp_path):
    src = write_pair(tmp_path / "in", "doc1", TEXT, good_ann())
    write_pair(tmp_path / "in", "other", "unrelated text", [])
    for path in (src, src.with_suffix(".ann")):
        report, docs = convert(tmp_path, path)
        assert [d.user_data["id"] for d in docs] == ["doc1"] and len(docs[0].ents) == 4


def test_discontinuous_whitespace_only_is_joined(tmp_path):
    text = "Biopsy of the left  arm grew H.\ncinaedi today.\n"
    ann = [t_line("T1", "Biological_structure", text, "left", "arm"), t_line("T2", "Sign_symptom", text, "H.", "cinaedi")]
    assert ann[1].endswith("\tH. cinaedi")  # BRAT splits spans at line breaks and quotes them joined by a space
    report, (doc,) = convert(tmp_path, write_pair(tmp_path / "in", "d", text, ann))
    assert ents(doc) == [("left  arm", "BODY_PART"), ("H.\ncinaedi", "SYMPTOM")]
    assert [(n.text, n.new_text, n.reason) for n in report.changed] == [
        ("left arm", "left  arm", "joined: fragments separated only by whitespace"),
        ("H. cinaedi", "H.\ncinaedi", "joined: fragments separated only by whitespace"),
    ]
    # the line break inside the joined entity does not start a sentence
    assert len(list(doc.sents)) == 1 and report.notes["line_breaks_inside_entities"] == 1


def test_discontinuous_keeps_longest_fragment(tmp_path):
    text = "CT showed origins of right and left subclavian arteries normal."
    ann = [t_line("T1", "Biological_structure", text, "origins of", "subclavian arteries")]
    report, (doc,) = convert(tmp_path, write_pair(tmp_path / "in", "d", text, ann))
    assert ents(doc) == [("subclavian arteries", "BODY_PART")]
    (note,) = report.changed
    assert (note.text, note.new_text, note.line) == ("origins of subclavian arteries", "subclavian arteries", 1)
    assert note.reason.startswith("discontinuous: kept the longest fragment 'subclavian arteries'")
    assert "'origins of'" in note.reason
    assert not report.dropped and sum(report.entities_out.values()) == 1


def test_overlaps_after_label_mapping(tmp_path):
    text = "Pain in the left hip; BP was high; severe headache."
    ann = [
        t_line("T1", "Biological_structure", text, "left hip"),
        t_line("T2", "Biological_structure", text, "hip"),  # nested: loses to 'left hip'
        t_line("T3", "Sign_symptom", text, "BP"),
        t_line("T4", "Diagnostic_procedure", text, "BP"),  # same span: loses (earliest kept)
        t_line("T5", "Detailed_description", text, "severe headache"),  # dropped by the map: never competes
        t_line("T6", "Sign_symptom", text, "headache"),
        "A1\tPOLARITY T2 NEG",
    ]
    report, (doc,) = convert(tmp_path, write_pair(tmp_path / "in", "d", text, ann))
    assert ents(doc) == [("left hip", "BODY_PART"), ("BP", "SYMPTOM"), ("headache", "SYMPTOM")]
    assert ents(doc) == [(s.text, s.label_) for s in doc.spans["brat"]]
    reasons = {(n.text, n.line): n.reason for n in report.dropped}
    assert reasons[("hip", 2)].startswith("overlap: overlaps BODY_PART 'left hip'")
    assert reasons[("BP", 4)].startswith("duplicate: overlaps SYMPTOM 'BP'")
    assert reasons[("severe headache", 5)] == "unmapped: label map drops this label"
    assert len(report.dropped) == 3
    assert report.notes["attributes"] == {"kept": 0, "on_dropped_entities": 1}
    assert doc.user_data["ent_attrs"] == {}


def test_crlf_ann_and_txt(tmp_path):
    text = "Fever since Monday.\r\nGave aspirin.\r\n"
    ann = [t_line("T1", "Sign_symptom", text, "Fever"), "E1\tSign_symptom:T1 ", t_line("T2", "Medication", text, "aspirin"),
           "R1\tX Arg1:T1 Arg2:T2\t", "A1\tPOLARITY E1 NEG"]
    assert text.index("aspirin") == 26  # offsets count the \r, as BRAT does
    report, (doc,) = convert(tmp_path, write_pair(tmp_path / "in", "d", text, ann, newline="\r\n"))
    assert doc.text == text and ents(doc) == [("Fever", "SYMPTOM"), ("aspirin", "DRUG")]
    assert [s.text for s in doc.sents] == ["Fever since Monday.\r\n", "Gave aspirin.\r\n"]
    assert doc.user_data["ent_attrs"] == {"0:5": {"POLARITY": "NEG"}}
    assert report.notes["ignored_lines"] == {"E": 1, "R": 1, "*": 0, "#": 0} and not report.changed


def test_crlf_txt_with_lf_offsets_is_caught_by_the_quote_check(tmp_path):
    lf = "Fever since Monday.\nGave aspirin.\n"
    ann = [t_line("T1", "Medication", lf, "aspirin")]  # offsets into the LF text
    write_pair(tmp_path / "in", "d", lf.replace("\n", "\r\n"), ann)
    with pytest.raises(ConversionError, match=r"d\.ann:1 \(offset 25\): T1: quotes 'aspirin' but the text of d\.txt at 25 32 is ' aspiri'"):
        convert_brat(tmp_path / "in", tmp_path / "out.spacy", LABELS)


BAD = "Fever and cough."


@pytest.mark.parametrize(
    "line,message",
    [
        ("T1\tSign_symptom 0 5\tFever\nT2\tSign_symptom 10 99\tcough.", r"d\.ann:2 \(offset 10\): T2: fragment \[10:99\] lies outside the text of d\.txt \(0\.\.16\)"),
        ("T1\tSign_symptom 0 5;10 20\tFever cough", r"d\.ann:1 \(offset 10\): T1: fragment \[10:20\] lies outside"),
        ("T1\tSign_symptom 0 5\tFevers", r"d\.ann:1 \(offset 0\): T1: quotes 'Fevers' but the text of d\.txt at 0 5 is 'Fever'"),
        ("T1\tSign_symptom 0 5;10 15\tFever cougH", r"d\.ann:1 \(offset 0\): T1: quotes 'Fever cougH' but .* is 'Fever cough'"),
        ("T1\tSign_symptom 0 5", r"d\.ann:1: a T line needs 3 TAB-separated fields"),
        ("T1\tSign_symptom 0 x\tFever", r"d\.ann:1: T1: fragment '0 x' is not '<start> <end>'"),
        ("T1\tSign_symptom 0 5 7\tFever", r"d\.ann:1: T1: fragment '0 5 7' is not"),
        ("T1\tSign_symptom\tFever", r"d\.ann:1: T1: expected '<type> <start> <end>"),
        ("T1\tSign_symptom 5 5\tFever", r"d\.ann:1 \(offset 5\): T1: fragment start 5 is not before its end 5"),
        ("T1\tSign_symptom 0 5\tFever\nT1\tSign_symptom 10 15\tcough", r"d\.ann:2: id T1 is used twice \(first on line 1\)"),
        ("T1\tSign_symptom 0 5\tFever\nA1\tPOLARITY E7 NEG", r"d\.ann:2: attribute POLARITY targets unknown id 'E7'"),
        ("T1\tSign_symptom 0 5\tFever\nA1\tPOLARITY R1 NEG", r"d\.ann:2: attribute POLARITY targets unknown id 'R1'"),
        ("T1\tSign_symptom 0 5\tFever\nA1\tPOLARITY", r"d\.ann:2: an attribute line is"),
        ("E1\tSign_symptom:T9 ", r"d\.ann:1: event E1 has trigger 'T9', which is not a T annotation"),
        ("T1\tSign_symptom 0 5\tFever\nX1\twhat", r"d\.ann:2: unknown annotation line"),
        ("T1\tSign_symptom 0 5\tFever\nT2\tSeizure 10 15\tcough", r"d\.ann:2: unknown label 'Seizure' \(not in label map"),
    ],
)
def test_bad_ann_names_file_and_line(tmp_path, line, message):
    write_pair(tmp_path / "in", "d", BAD, line.split("\n"))
    with pytest.raises(ConversionError, match=message):
        convert_brat(tmp_path / "in", tmp_path / "out.spacy", LABELS)
    assert not (tmp_path / "out.spacy").exists()


def test_missing_partner_files(tmp_path):
    write_pair(tmp_path / "a", "good", BAD, [])
    (tmp_path / "a" / "lonely.txt").write_text("text without annotations", encoding="utf-8")
    with pytest.raises(ConversionError, match=r"lonely\.txt: no matching \.ann file \(lonely\.ann\)"):
        convert_brat(tmp_path / "a", tmp_path / "out.spacy", LABELS)
    write_pair(tmp_path / "b", "good", BAD, [])
    (tmp_path / "b" / "orphan.ann").write_text("T1\tSign_symptom 0 5\tFever\n", encoding="utf-8")
    with pytest.raises(ConversionError, match=r"orphan\.ann: no matching \.txt file \(orphan\.txt\)"):
        convert_brat(tmp_path / "b", tmp_path / "out.spacy", LABELS)
    with pytest.raises(ConversionError, match=r"orphan\.ann: no matching \.txt file"):
        convert_brat(tmp_path / "b" / "orphan.ann", tmp_path / "out.spacy", LABELS)
    # an --ids list that leaves the unpaired files out converts
    ids = tmp_path / "ids.txt"
    ids.write_text("good\n", encoding="utf-8")
    report, docs = convert(tmp_path, tmp_path / "b", ids_path=ids)
    assert [d.user_data["id"] for d in docs] == ["good"]


def test_ids_select_documents(tmp_path):
    for stem in ("c", "a", "b"):
        write_pair(tmp_path / "in", stem, TEXT, good_ann())
    ids = tmp_path / "ids.txt"
    ids.write_text("# dev split\n\nc\n  a  \n", encoding="utf-8")
    report, docs = convert(tmp_path, tmp_path / "in", ids_path=ids)
    assert [d.user_data["id"] for d in docs] == ["a", "c"]
    assert report.documents_in == 2 and report.sources == [str(tmp_path / "in"), str(ids)]
    ids.write_text("a\n# comment\nzzz\n", encoding="utf-8")
    with pytest.raises(ConversionError, match=r"ids\.txt:3: no \.txt or \.ann file for id 'zzz'"):
        convert_brat(tmp_path / "in", tmp_path / "out.spacy", LABELS, ids_path=ids)
    ids.write_text("a\nb\na\n", encoding="utf-8")
    with pytest.raises(ConversionError, match=r"ids\.txt:3: id 'a' is listed twice"):
        convert_brat(tmp_path / "in", tmp_path / "out.spacy", LABELS, ids_path=ids)


def test_empty_ann_and_empty_txt_are_documents_without_entities(tmp_path):
    write_pair(tmp_path / "in", "d", "No findings.", [])
    report, (doc,) = convert(tmp_path, tmp_path / "in")
    assert doc.ents == () and report.documents_out == 1
    # Issue 37: an empty .txt is accepted as an empty .ann is, not a stop of the whole conversion.
    write_pair(tmp_path / "in2", "e", "  \n", [])
    write_pair(tmp_path / "in2", "f", "", [])
    report, docs = convert(tmp_path, tmp_path / "in2")
    assert [d.text for d in docs] == ["  \n", ""] and report.documents_out == 2
    (tmp_path / "in2" / "e.txt").write_bytes(b"caf\xe9")
    with pytest.raises(ConversionError, match=r"e\.txt:1: not valid UTF-8"):
        convert_brat(tmp_path / "in2", tmp_path / "out.spacy", LABELS)


EHK = "La fiebre alta es común.\nLos niños\ntienen tos.\n\nEl asma es crónica."
EHK_LABELS = LabelMap(["Concept", "Action", "Predicate", "Reference"])


def test_one_doc_per_line(tmp_path):
    ann = [
        t_line("T1", "Concept", EHK, "fiebre", "alta"),
        t_line("T2", "Concept", EHK, "niños", "tienen"),  # crosses lines 2-3
        t_line("T3", "Action", EHK, "tienen"),
        t_line("T4", "Concept", EHK, "asma"),
        "R1\ttarget Arg1:T3 Arg2:T4",
        "*\tsame-as T1 T4",
    ]
    report, docs = convert(tmp_path, write_pair(tmp_path / "in", "scenario", EHK, ann), EHK_LABELS, lang="es",
                           one_doc_per_line=True)
    assert [d.user_data["id"] for d in docs] == ["scenario:1", "scenario:2", "scenario:3", "scenario:5"]
    assert [d.text for d in docs] == ["La fiebre alta es común.", "Los niños", "tienen tos.", "El asma es crónica."]
    assert [ents(d) for d in docs] == [[("fiebre alta", "Concept")], [], [("tienen", "Action")], [("asma", "Concept")]]
    assert docs[3].ents[0].start_char == 3  # offsets shifted to the line
    (note,) = report.dropped
    assert note.line == 2 and note.text == "niños tienen" and note.reason.startswith("line-crossing")
    assert report.changed[0].reason.startswith("joined") and (report.changed[0].start, report.changed[0].end) == (3, 14)
    assert report.documents_in == 4 and "unannotated_lines_skipped" not in report.notes
    assert all(len(list(d.sents)) == 1 for d in docs)


def test_annotated_lines_only(tmp_path):
    text = "Primera frase.\nLa tos es común.\nOtra frase sin nada.\n\nEl asma.\nÚltima."
    ann = [t_line("T1", "Concept", text, "tos"), t_line("T2", "Concept", text, "asma")]
    report, docs = convert(tmp_path, write_pair(tmp_path / "in", "s1", text, ann), EHK_LABELS, lang="es",
                           one_doc_per_line=True, annotated_lines_only=True)
    assert [d.user_data["id"] for d in docs] == ["s1:2", "s1:5"]
    assert report.documents_in == report.documents_out == 2
    assert report.notes["unannotated_lines_skipped"] == 3  # the blank line is not a document


def test_annotated_lines_only_needs_one_doc_per_line(tmp_path):
    with pytest.raises(ValueError):
        convert_brat(tmp_path, tmp_path / "out.spacy", LABELS, annotated_lines_only=True)


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_cli_writes_report_and_exits_cleanly_on_error(tmp_path):
    write_pair(tmp_path / "in", "doc1", TEXT, good_ann())
    script = "-m", "med_ner", "convert", "brat"
    run = subprocess.run([sys.executable, *script, str(tmp_path / "in"), str(tmp_path / "c" / "train.spacy"),
                          "--label-map", str(MACCROBAT_MAP)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    report = srsly.read_json(tmp_path / "c" / "reports" / "train.json")
    assert report["entities_out"] == {"DRUG": 1, "SYMPTOM": 2, "TEST": 1} and report["dropped_by_reason"] == {"unmapped": 1}
    assert report["notes"]["ignored_lines"] == {"E": 3, "R": 1, "*": 1, "#": 1}
    write_pair(tmp_path / "bad", "doc2", BAD, ["T1\tSign_symptom 0 5\tFever", "A1\tPOLARITY E4 NEG"])
    run = subprocess.run([sys.executable, *script, str(tmp_path / "bad"), str(tmp_path / "bad.spacy"), "--label-map",
                          str(MACCROBAT_MAP)], capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "error: " in run.stderr and "doc2.ann:2: attribute POLARITY targets unknown id 'E4'" in run.stderr
    assert not (tmp_path / "bad.spacy").exists()


def test_label_maps_cover_the_corpus_types():
    maccrobat = srsly.read_json(MACCROBAT_MAP)
    assert maccrobat["labels"] == ["DISEASE", "SYMPTOM", "DRUG", "BODY_PART", "TEST", "PROCEDURE"]
    assert len(maccrobat["map"]) == 41 and sum(v is not None for v in maccrobat["map"].values()) == 6
    assert srsly.read_json(EHEALTH_MAP) == {"labels": ["Concept", "Action", "Predicate", "Reference"], "map": {}}


def test_make_split_is_deterministic(tmp_path):
    for i in range(10):
        write_pair(tmp_path / "corpus", f"doc{i:02d}", "text", [])
    a = write_split(tmp_path / "corpus", tmp_path / "a", 13, (6, 2, 2))
    b = write_split(tmp_path / "corpus", tmp_path / "b", 13, (6, 2, 2))
    assert all(a[name].read_text() == b[name].read_text() for name in a)
    stems = [line for name in a for line in a[name].read_text().splitlines() if not line.startswith("#")]
    assert sorted(stems) == [f"doc{i:02d}" for i in range(10)]
    with pytest.raises(ValueError, match="add up to 9"):
        write_split(tmp_path / "corpus", tmp_path / "c", 13, (5, 2, 2))
    (tmp_path / "corpus" / "hi.txt").write_text("hi", encoding="utf-8")  # a file without partner is left out
    c = write_split(tmp_path / "corpus", tmp_path / "c", 13, (6, 2, 2))
    assert all(a[name].read_text() == c[name].read_text() for name in a)


# --- real corpora -----------------------------------------------------------

MACCROBAT_DOCS = ["15939911", "16778410", "17803823", "18236639", "28173879"]
T_LINE = re.compile(r"^T\d+\t(\S+) ", re.M)


@pytest.mark.integration
def test_maccrobat_split_files_are_reproducible(tmp_path):
    folder = corpus_dir("MACCROBAT") / "MACCROBAT2020"
    paths = write_split(folder, tmp_path, 13, (160, 20, 20))
    committed = ROOT / "assets" / "splits" / "maccrobat"
    for name, path in paths.items():
        assert path.read_text(encoding="utf-8") == (committed / f"{name}.txt").read_text(encoding="utf-8"), name
    sizes = [len([s for s in p.read_text().splitlines() if not s.startswith("#")]) for p in paths.values()]
    assert sizes == [160, 20, 20]


@pytest.mark.integration
def test_maccrobat_documents_round_trip(tmp_path):
    folder = corpus_dir("MACCROBAT") / "MACCROBAT2020"
    ids = tmp_path / "ids.txt"
    ids.write_text("# five documents\n" + "\n".join(MACCROBAT_DOCS) + "\n", encoding="utf-8")
    report, docs = convert(tmp_path, folder, ids_path=ids)
    assert [d.user_data["id"] for d in docs] == MACCROBAT_DOCS
    mapping = srsly.read_json(MACCROBAT_MAP)["map"]
    expected, single_fragment = Counter(), set()
    for stem in MACCROBAT_DOCS:
        for line in (folder / f"{stem}.ann").read_text(encoding="utf-8").splitlines():
            m = re.match(r"^T\d+\t(\S+) (\d+) (\d+)\t", line)  # single-fragment spans only
            if m:
                single_fragment.add((stem, int(m.group(2)), int(m.group(3)), mapping[m.group(1)]))
        for source_type in T_LINE.findall((folder / f"{stem}.ann").read_text(encoding="utf-8")):
            if mapping[source_type] is not None:
                expected[mapping[source_type]] += 1
    expected.subtract(Counter(n.label for n in report.dropped if n.label in mapping.values()))
    assert sum(report.entities_in.values()) == sum(
        len(T_LINE.findall((folder / f"{s}.ann").read_text(encoding="utf-8"))) for s in MACCROBAT_DOCS
    )
    changed_texts = {n.new_text for n in report.changed}
    got, n_neg = Counter(), 0
    for doc in docs:
        text = (folder / f"{doc.user_data['id']}.txt").read_bytes().decode("utf-8")
        assert doc.text == text
        for ent in doc.ents:
            assert ent.text == text[ent.start_char:ent.end_char]
            as_annotated = (doc.user_data["id"], ent.start_char, ent.end_char, ent.label_) in single_fragment
            assert as_annotated or ent.text in changed_texts, (doc.user_data["id"], ent.text)
        assert [(s.start, s.end, s.label_) for s in doc.spans["brat"]] == [(e.start, e.end, e.label_) for e in doc.ents]
        ent_keys = {f"{e.start_char}:{e.end_char}" for e in doc.ents}
        assert set(doc.user_data["ent_attrs"]) <= ent_keys
        n_neg += sum(a.get("POLARITY") == "NEG" for a in doc.user_data["ent_attrs"].values())
        got.update(e.label_ for e in doc.ents)
    assert got == +expected == report.entities_out
    assert n_neg >= 1
    assert any(n.reason.startswith("joined") and n.new_text == "H.\ncinaedi" for n in report.changed)


@pytest.mark.integration
def test_maccrobat_full_conversion(tmp_path):
    folder = corpus_dir("MACCROBAT") / "MACCROBAT2020"
    ids = maccrobat_all_ids(tmp_path)
    start = time.perf_counter()
    report = convert_brat(folder, tmp_path / "all.spacy", LABELS, ids_path=ids)
    seconds = time.perf_counter() - start
    report.check()
    report.write(tmp_path / "report.json")
    assert report.documents_in == report.documents_out == 200
    assert sum(report.entities_in.values()) == 25_189
    assert len(report.entities_in) == 41
    assert report.notes["ignored_lines"] == {"E": 14_368, "R": 16_307, "*": 2_023, "#": 335}
    assert sum(report.notes["attributes"].values()) == 1_416
    assert seconds < 60, f"converting MACCROBAT took {seconds:.1f}s"


@pytest.mark.integration
def test_ehealthkd_training_one_doc_per_line(tmp_path):
    src = corpus_dir("eHealth-KD-2020") / "training" / "scenario.txt"
    report, docs = convert(tmp_path, src, LabelMap.from_file(EHEALTH_MAP), lang="es", one_doc_per_line=True)
    assert report.documents_in == report.documents_out == len(docs) == 800
    assert dict(report.entities_in) == {"Concept": 3112, "Action": 1319, "Predicate": 412, "Reference": 169}
    assert sum(report.entities_in.values()) == 5012
    assert report.notes["ignored_lines"] == {"E": 0, "R": 4478, "*": 93, "#": 0}
    assert docs[0].user_data["id"] == "scenario:1" and docs[-1].user_data["id"] == "scenario:800"


@pytest.mark.integration
def test_ehealthkd_scenario1_annotated_lines_only(tmp_path):
    src = corpus_dir("eHealth-KD-2020") / "testing" / "scenario1-main" / "scenario.txt"
    report, docs = convert(tmp_path, src, LabelMap.from_file(EHEALTH_MAP), lang="es", one_doc_per_line=True,
                           annotated_lines_only=True)
    assert report.documents_in == len(docs) == 100 and report.notes["unannotated_lines_skipped"] == 4900
    assert sum(report.entities_in.values()) == 574
