"""The BRAT converter's `attributes` option: attribute spans in
doc.spans["attributes"] and MODIFY links in doc.user_data["links"]."""
import time
from collections import Counter

import pytest
import srsly
from typer.testing import CliRunner

from conftest import ROOT, corpus_dir, maccrobat_all_ids
from med_ner.corpus.brat import convert_brat
from med_ner.corpus.conversion import LabelMap
from med_ner.corpus.corpora import CorpusTable
from med_ner.corpus.reading import ConversionError
from test_brat import LABELS, MACCROBAT_MAP, convert, read_docs, t_line, write_pair

ATTRIBUTES = ROOT / "assets" / "labels" / "maccrobat_attributes.json"
TEXT = ("Hemoglobin was 7.2 g/dL on admission.\n"
        "Amoxicillin 500 mg orally was given for severe chest pain and mild fever.\n")


def ann_lines(text=TEXT):
    return [
        t_line("T1", "Diagnostic_procedure", text, "Hemoglobin"),
        t_line("T2", "Lab_value", text, "7.2 g/dL"),
        t_line("T3", "Date", text, "on admission"),
        t_line("T4", "Medication", text, "Amoxicillin"),
        "E1\tMedication:T4 ",
        t_line("T5", "Dosage", text, "500 mg"),
        t_line("T6", "Dosage", text, "500"),  # inside T5: loses (longest wins)
        t_line("T7", "Administration", text, "orally"),
        t_line("T8", "Severity", text, "severe"),
        t_line("T9", "Biological_structure", text, "chest"),
        t_line("T10", "Sign_symptom", text, "pain"),
        "E2\tSign_symptom:T10 ",
        t_line("T11", "Severity", text, "mil"),  # edges inside a token: expanded to "mild"
        t_line("T12", "Sign_symptom", text, "fever"),
        "R1\tMODIFY Arg1:T2 Arg2:T1\t",  # value -> test
        "R2\tMODIFY Arg1:T5 Arg2:E1\t",  # dosage -> drug, through the event
        "R3\tMODIFY Arg1:T7 Arg2:T4\t",  # route -> drug
        "R4\tMODIFY Arg1:T8 Arg2:E2\t",  # severity -> symptom
        "R5\tMODIFY Arg1:T9 Arg2:T10\t",  # body part -> symptom
        "R6\tMODIFY Arg1:T8 Arg2:T10\t",  # R4 again, by T id: duplicate
        "R7\tMODIFY Arg1:T2 Arg2:T3\t",  # head a Date: not a kept entity
        "R8\tMODIFY Arg1:T12 Arg2:T10\t",  # modifier a symptom: not an attribute or body part
        "R9\tMODIFY Arg1:T6 Arg2:T4\t",  # modifier lost to T5: not kept
        "R10\tMODIFY Arg1:T11 Arg2:T12\t",
        "R11\tMODIFY Arg1:T9 Arg2:T9\t",  # a body part that modifies itself
        "R12\tIDENTICAL Arg1:E2 Arg2:T10\t",
        "R13\tBEFORE Arg1:E1 Arg2:E2\t",
        "A1\tPOLARITY E2 NEG",
    ]


def span_texts(doc, key="attributes"):
    return [(s.text, s.label_) for s in doc.spans[key]]


def link_texts(doc):
    return [(doc.text[a:b], doc.text[c:d]) for a, b, c, d in doc.user_data["links"]]


def test_attribute_spans_and_links_are_kept_and_reported(tmp_path):
    src = write_pair(tmp_path / "in", "doc1", TEXT, ann_lines())
    report, (doc,) = convert(tmp_path, src.parent, attributes=ATTRIBUTES)
    assert [(e.text, e.label_) for e in doc.ents] == [
        ("Hemoglobin", "TEST"), ("Amoxicillin", "DRUG"), ("chest", "BODY_PART"), ("pain", "SYMPTOM"),
        ("fever", "SYMPTOM")]
    assert span_texts(doc) == [("7.2 g/dL", "LAB_VALUE"), ("500 mg", "DOSAGE"), ("orally", "ROUTE"),
                               ("severe", "SEVERITY"), ("mild", "SEVERITY")]
    # written as lists; a DocBin reads msgpack arrays back as tuples
    links = [list(link) for link in doc.user_data["links"]]
    assert links == sorted(links) and all(len(link) == 4 for link in links)
    assert link_texts(doc) == [("7.2 g/dL", "Hemoglobin"), ("500 mg", "Amoxicillin"), ("orally", "Amoxicillin"),
                               ("severe", "pain"), ("chest", "pain"), ("mild", "fever")]
    # offsets as ent_attrs keys them
    pain = doc.ents[3]
    assert f"{pain.start_char}:{pain.end_char}" in doc.user_data["ent_attrs"]
    assert links[3][2:] == [pain.start_char, pain.end_char]
    notes = report.notes
    assert notes["attribute_spans"] == {"read": 6, "kept": 5, "overlap": 1}
    assert notes["attributes_out"] == {"DOSAGE": 1, "LAB_VALUE": 1, "ROUTE": 1, "SEVERITY": 2}
    assert notes["links"] == {"read": 11, "kept": 6, "duplicate": 1, "head not a kept entity": 1,
                              "modifier not a kept attribute or body part": 2, "modifier is the head": 1}
    assert sorted((d["relation"], d["reason"]) for d in notes["link_drops"]) == [
        ("R11", "modifier is the head"), ("R6", "duplicate"), ("R7", "head not a kept entity"),
        ("R8", "modifier not a kept attribute or body part"), ("R9", "modifier not a kept attribute or body part")]
    assert notes["ignored_lines"]["R"] == 2 and notes["ignored_relations"] == {"BEFORE": 1, "IDENTICAL": 1}
    assert notes["options"]["attributes"] == str(ATTRIBUTES)
    # the entities' report is the one without the option: attribute types stay "unmapped" entities
    assert Counter(n.reason.split(":")[0] for n in report.dropped) == {"unmapped": 7}


def test_attribute_drops_and_changes_add_up(tmp_path):
    src = write_pair(tmp_path / "in", "doc1", TEXT, ann_lines())
    report, _ = convert(tmp_path, src.parent, attributes=ATTRIBUTES)
    counts = report.notes["attribute_spans"]
    assert counts["read"] == sum(v for k, v in counts.items() if k != "read")
    assert {k: v for k, v in counts.items() if k not in ("read", "kept")} == {"overlap": 1}
    notes = report.notes["attribute_span_notes"]
    assert [(n["text"], n["reason"].split(":")[0]) for n in notes["dropped"]] == [("500", "overlap")]
    assert [(n["text"], n["new_text"], n["reason"].split(":")[0]) for n in notes["changed"]] == [
        ("mil", "mild", "misaligned")]
    # a report that does not add up is caught
    report.notes["links"]["kept"] += 1
    with pytest.raises(AssertionError, match="links do not add up"):
        report.check()


def test_without_the_option_nothing_changes(tmp_path):
    src = write_pair(tmp_path / "in", "doc1", TEXT, ann_lines())
    plain, (before,) = convert(tmp_path, src.parent)
    (tmp_path / "out.spacy").rename(tmp_path / "plain.spacy")
    with_attrs, (after,) = convert(tmp_path, src.parent, attributes=ATTRIBUTES)
    assert "attributes" not in before.spans and "links" not in before.user_data
    assert set(before.spans) == {"brat"} and set(after.spans) == {"brat", "attributes"}
    assert [(e.start_char, e.end_char, e.label_) for e in before.ents] == [
        (e.start_char, e.end_char, e.label_) for e in after.ents]
    assert span_texts(before, "brat") == span_texts(after, "brat")
    assert before.user_data == {k: v for k, v in after.user_data.items() if k != "links"}
    assert [t.is_sent_start for t in before] == [t.is_sent_start for t in after]
    assert plain.notes["ignored_lines"] == {"E": 2, "R": 13, "*": 0, "#": 0}
    for key in ("attribute_spans", "attributes_out", "attribute_span_notes", "links", "link_drops",
                "ignored_relations"):
        assert key not in plain.notes
    assert plain.entities_out == with_attrs.entities_out and len(plain.dropped) == len(with_attrs.dropped)


def test_links_across_lines_with_one_doc_per_line(tmp_path):
    text = "severe pain\nchest\n"
    lines = [t_line("T1", "Severity", text, "severe"), t_line("T2", "Sign_symptom", text, "pain"),
             t_line("T3", "Biological_structure", text, "chest"),
             "R1\tMODIFY Arg1:T1 Arg2:T2", "R2\tMODIFY Arg1:T3 Arg2:T2"]
    src = write_pair(tmp_path / "in", "d", text, lines)
    report, docs = convert(tmp_path, src, one_doc_per_line=True, attributes=ATTRIBUTES)
    assert [link_texts(doc) for doc in docs] == [[("severe", "pain")], []]
    assert report.notes["links"] == {"read": 2, "kept": 1, "modifier and head in different documents": 1}


BAD = "Fever and cough today."


@pytest.mark.parametrize(
    "lines, message",
    [
        (["R1\tMODIFY Arg1:T1"], r"d\.ann:2: an R line is '<id>\\t<type> Arg1:<id> Arg2:<id>'"),
        (["R1\tMODIFY Arg1:T1 Arg3:T1"], r"d\.ann:2: an R line is"),
        (["R1\tMODIFY Arg1:T1 Arg2:"], r"d\.ann:2: an R line is"),
        (["R1\tMODIFY Arg1:T1 Arg2:E4"], r"d\.ann:2: relation R1 \(MODIFY\) has Arg2 'E4', which is not a T or E"),
        (["R1\tBEFORE Arg1:T7 Arg2:T1"], r"d\.ann:2: relation R1 \(BEFORE\) has Arg1 'T7'"),
        (["R1\tMODIFY Arg1:T1 Arg2:T1", "R1\tMODIFY Arg1:T1 Arg2:T1"], r"d\.ann:3: id R1 is used twice"),
    ],
)
def test_bad_relation_lines_name_file_and_line(tmp_path, lines, message):
    write_pair(tmp_path / "in", "d", BAD, ["T1\tSign_symptom 0 5\tFever", *lines])
    for attributes in (None, ATTRIBUTES):  # checked with or without the option
        with pytest.raises(ConversionError, match=message):
            convert_brat(tmp_path / "in", tmp_path / "out.spacy", LABELS, attributes=attributes)
        assert not (tmp_path / "out.spacy").exists()


def test_bad_attribute_map_and_unknown_type(tmp_path):
    write_pair(tmp_path / "in", "d", BAD, ["T1\tSign_symptom 0 5\tFever"])
    with pytest.raises(ConversionError, match=r"nope\.json: file not found"):
        convert_brat(tmp_path / "in", tmp_path / "out.spacy", LABELS, attributes=tmp_path / "nope.json")
    partial = tmp_path / "partial.json"
    partial.write_text('{"labels": ["SEVERITY"], "map": {}}', encoding="utf-8")
    with pytest.raises(ConversionError, match=r"d\.ann:1: unknown label 'Sign_symptom' \(not in label map"):
        convert_brat(tmp_path / "in", tmp_path / "out.spacy", LABELS, attributes=partial)
    with pytest.raises(ConversionError, match=r"--attributes: must be the path of a file, not 5"):
        convert_brat(tmp_path / "in", tmp_path / "out.spacy", LABELS, attributes=5)
    assert not (tmp_path / "out.spacy").exists()


def test_cli_attributes_option(tmp_path):
    from med_ner.cli import app

    src = write_pair(tmp_path / "in", "doc1", TEXT, ann_lines())
    result = CliRunner().invoke(app, ["convert", "brat", str(src.parent), str(tmp_path / "c.spacy"), "--label-map",
                                      str(MACCROBAT_MAP), "--attributes", str(ATTRIBUTES)])
    assert result.exit_code == 0, result.output
    (doc,) = read_docs(tmp_path / "c.spacy")
    assert len(doc.spans["attributes"]) == 5 and len(doc.user_data["links"]) == 6
    assert srsly.read_json(tmp_path / "reports" / "c.json")["notes"]["links"]["kept"] == 6
    result = CliRunner().invoke(app, ["convert", "brat", str(src.parent), str(tmp_path / "d.spacy"),
                                      "--attributes", str(tmp_path / "missing.json")])
    assert result.exit_code == 1 and "missing.json" in result.output and not (tmp_path / "d.spacy").exists()


def test_attribute_map_lists_every_maccrobat_type():
    attributes, entities = srsly.read_json(ATTRIBUTES), srsly.read_json(MACCROBAT_MAP)
    assert attributes["labels"] == ["LAB_VALUE", "DOSAGE", "ROUTE", "SEVERITY", "FREQUENCY", "DURATION"]
    assert set(attributes["map"]) == set(entities["map"])
    assert {k: v for k, v in attributes["map"].items() if v} == {
        "Lab_value": "LAB_VALUE", "Dosage": "DOSAGE", "Administration": "ROUTE", "Severity": "SEVERITY",
        "Frequency": "FREQUENCY", "Duration": "DURATION"}


def test_corpus_table_attributes_option(tmp_path):
    table = srsly.read_yaml(ROOT / "configs" / "corpora.yml")
    assert table["MACCROBAT"]["options"] == {"attributes": "assets/labels/maccrobat_attributes.json"}
    (tmp_path / "x" / "d").mkdir(parents=True)
    path = tmp_path / "c.yml"
    path.write_text("x:\n  format: brat\n  options: {attributes: no/such.json}\n  splits:\n"
                    "    train: [{path: d}]\n    dev: [{path: d}]\n", encoding="utf-8")
    with pytest.raises(ConversionError, match=r"c\.yml:3: corpus 'x': attributes file 'no/such\.json' not found"):
        CorpusTable(path).entry("x", tmp_path / "x")
    path.write_text(path.read_text().replace("brat", "jsonl"), encoding="utf-8")
    with pytest.raises(ConversionError, match=r"convert_jsonl takes no option 'attributes'"):
        CorpusTable(path).entry("x", tmp_path / "x")


@pytest.mark.integration
def test_maccrobat_attributes_and_links(tmp_path):
    folder = corpus_dir("MACCROBAT") / "MACCROBAT2020"
    ids = maccrobat_all_ids(tmp_path)
    start = time.perf_counter()
    report = convert_brat(folder, tmp_path / "all.spacy", LabelMap.from_file(MACCROBAT_MAP), ids_path=ids,
                          attributes=ATTRIBUTES)
    seconds = time.perf_counter() - start
    report.check()
    notes = report.notes
    assert sum(report.entities_in.values()) == 25_189
    assert notes["attribute_spans"]["read"] == 2848 + 361 + 175 + 376 + 76 + 283
    assert notes["attribute_spans"]["kept"] >= 4100
    assert notes["attributes_out"]["LAB_VALUE"] >= 2840 and notes["attributes_out"]["FREQUENCY"] == 76
    assert notes["links"]["read"] == 11_571 and notes["links"]["kept"] >= 6900
    assert notes["ignored_lines"]["R"] + notes["links"]["read"] == 16_307
    assert sum(notes["ignored_relations"].values()) == notes["ignored_lines"]["R"]
    pairs = Counter()
    for doc in read_docs(tmp_path / "all.spacy"):
        labels = {(e.start_char, e.end_char): e.label_ for e in doc.ents}
        attrs = {(s.start_char, s.end_char): s.label_ for s in doc.spans["attributes"]}
        for a, b, c, d in doc.user_data["links"]:
            pairs[(attrs.get((a, b)) or labels[(a, b)], labels[(c, d)])] += 1
    assert sum(pairs.values()) == notes["links"]["kept"]
    # the counts of MODIFY pairs, less the few whose spans lost to an overlap
    assert pairs[("LAB_VALUE", "TEST")] >= 2700 and pairs[("BODY_PART", "SYMPTOM")] >= 1500
    assert pairs[("DOSAGE", "DRUG")] >= 350 and pairs[("SEVERITY", "SYMPTOM")] >= 270
    assert pairs[("ROUTE", "DRUG")] >= 175
    assert seconds < 60, f"converting MACCROBAT took {seconds:.1f}s"
