"""Issue 16: bad input never loses data and never ends in a traceback.

Every case of tests/bad_input_cases.py runs through the CLI in process; the
tests below it check what a message cannot show (what was written, what the
report lists, that a run recovers)."""
import json
import os
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from typer.testing import CliRunner

from bad_input_cases import CASES, Case, docs_section, jsonl, render_table
from conftest import ROOT
from med_ner.prediction import annotate as annotate_module
from med_ner.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad-input-models")
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "SYMPTOM", "pattern": "fever"}])
    nlp.to_disk(base / "ruler")
    # A pipeline naming a factory nobody registers.
    spacy.blank("en").to_disk(base / "unregistered")
    config = (base / "unregistered" / "config.cfg").read_text()
    config = config.replace("pipeline = []", 'pipeline = ["mystery"]') + '\n[components.mystery]\nfactory = "h16_mystery"\n'
    (base / "unregistered" / "config.cfg").write_text(config)
    # A pipeline whose config names a language spaCy does not have.
    spacy.blank("en").to_disk(base / "zz")
    config = (base / "zz" / "config.cfg").read_text()
    (base / "zz" / "config.cfg").write_text(config.replace('lang = "en"', 'lang = "zz"'))
    # A pipeline whose weights file holds half its bytes.
    nlp = spacy.blank("en")
    nlp.add_pipe("ner").add_label("SYMPTOM")
    nlp.initialize()
    nlp.to_disk(base / "truncated")
    weights = base / "truncated" / "ner" / "model"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return {"model": str(base / "ruler"), "blank": str(base / "unregistered"), "zz": str(base / "zz"),
            "truncated": str(base / "truncated")}


def write_files(folder: Path, files) -> None:
    for name, content in files.items():
        path = folder / name
        if content == "PIPELINE":  # a saved entity_ruler pipeline of the case's own
            nlp = spacy.blank("en")
            nlp.add_pipe("entity_ruler").add_patterns([{"label": "SYMPTOM", "pattern": "fever"}])
            path.parent.mkdir(parents=True, exist_ok=True)
            nlp.to_disk(path)
            continue
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == "DOCBIN_NO_ENTS":
            db = DocBin(attrs=["ORTH"])
            db.add(spacy.blank("en")("fever today"))
            db.to_disk(path)
        elif content in ("DOCBIN", "EMPTY_DOCBIN"):
            db = DocBin()
            if content == "DOCBIN":
                doc = spacy.blank("en")("fever today")
                doc.ents = [doc.char_span(0, 5, label="SYMPTOM")]
                db.add(doc)
            db.to_disk(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def invoke(args, stdin=None, cwd: Path = None):
    """Run the CLI in process from `cwd`; no exception may escape it."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(app, args, input=stdin, catch_exceptions=True)
    finally:
        os.chdir(old)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}")
    assert "Traceback" not in result.output
    return result


def check_error(result, *fragments):
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def run_case(case: Case, tmp_path: Path, models, write: bool = True):
    if write:
        write_files(tmp_path, case.files)
    args = [a.format(**models) for a in case.args]
    return invoke(args, case.stdin, tmp_path)


def snapshot(path: Path):
    """A file's bytes, or a folder's files and their bytes."""
    if path.is_dir():
        return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    return path.read_bytes()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, tmp_path, models):
    write_files(tmp_path, case.files)
    before = {path: snapshot(tmp_path / path) for path in case.unchanged}
    result = run_case(case, tmp_path, models, write=False)
    if case.exit_code:
        check_error(result, case.answer)
    else:
        assert result.exit_code == 0, result.output
        reports = "".join(p.read_text(encoding="utf-8") for p in tmp_path.rglob("reports/*.json"))
        assert case.answer in result.stdout + reports
    for path in case.absent:
        assert not (tmp_path / path).exists(), path
    for path, content in before.items():
        assert snapshot(tmp_path / path) == content, f"{path} changed"


def test_docs_table_is_the_cases():
    assert docs_section() == render_table(), "docs/data.md's bad input table is stale: python tests/bad_input_cases.py --write"


# What a message cannot show.

def docs_of(path: Path):
    return list(DocBin(store_user_data=True).from_disk(path).get_docs(spacy.blank("en").vocab))


def test_jsonl_raw_line_separators_round_trip(tmp_path):
    text = "fever\u2028and\x85pain\u2029\x0bx\x0c\x1c\x1d\x1e\r end"
    write_files(tmp_path, {"in.jsonl": jsonl({"text": text, "spans": [{"start": 0, "end": 5, "label": "SYMPTOM"}]})})
    check = invoke(["convert", "jsonl", "in.jsonl", "out.spacy"], cwd=tmp_path)
    assert check.exit_code == 0, check.output
    [doc] = docs_of(tmp_path / "out.spacy")
    assert doc.text == text and [e.text for e in doc.ents] == ["fever"]


def test_jsonl_label_studio_keeps_text_and_id(tmp_path):
    case = next(c for c in CASES if c.id == "jsonl-label-studio")
    run_case(case, tmp_path, {})
    [doc] = docs_of(tmp_path / "out.spacy")
    assert doc.text == "fever" and doc.user_data["id"] == 7


def test_iob_trimmed_token_is_reported_on_its_entity(tmp_path):
    write_files(tmp_path, {"in.iob": "no\tO\nfever \tB-SYMPTOM\nnow\tO\n"})
    assert invoke(["convert", "iob", "in.iob", "out.spacy"], cwd=tmp_path).exit_code == 0
    report = srsly.read_json(tmp_path / "reports" / "out.json")
    [note] = report["changed"]
    assert (note["line"], note["text"], note["new_text"]) == (2, "fever ", "fever")
    assert report["notes"]["trimmed_tokens"] == [{"line": 2, "token": "fever "}]
    assert [[t.text for t in d] for d in docs_of(tmp_path / "out.spacy")] == [["no", "fever", "now"]]


def test_iob_repair_note_is_document_relative_and_whole(tmp_path):
    write_files(tmp_path, {"in.iob": "He\tO\nleft\tO\n\nsaw\tO\nJohn\tI-PER\nSmith\tI-PER\n"})
    assert invoke(["convert", "iob", "in.iob", "out.spacy", "--scheme", "iob2"], cwd=tmp_path).exit_code == 0
    [note] = srsly.read_json(tmp_path / "reports" / "out.json")["changed"]
    [doc] = docs_of(tmp_path / "out.spacy")
    [ent] = doc.ents
    assert (note["text"], note["start"], note["end"]) == ("John Smith", ent.start, ent.end) == ("John Smith", 3, 5)


def test_brat_event_conflict_is_resolved_and_reported(tmp_path):
    case = next(c for c in CASES if c.id == "brat-event-polarity-conflict")
    run_case(case, tmp_path, {})
    [doc] = docs_of(tmp_path / "out.spacy")
    assert doc.user_data["ent_attrs"] == {"3:8": {"POLARITY": "NEG"}}
    [conflict] = srsly.read_json(tmp_path / "reports" / "out.json")["notes"]["attribute_conflicts"]
    assert conflict["line"] == 5 and conflict["kept"] == "NEG" and conflict["dropped"] == "POS"


def test_brat_polarity_of_dropped_duplicate_is_carried_over(tmp_path):
    case = next(c for c in CASES if c.id == "brat-duplicate-span-polarity")
    run_case(case, tmp_path, {})
    [doc] = docs_of(tmp_path / "out.spacy")
    assert doc.user_data["ent_attrs"] == {"3:8": {"POLARITY": "NEG"}}
    report = srsly.read_json(tmp_path / "reports" / "out.json")
    assert report["notes"]["attributes"] == {"kept": 1, "on_dropped_entities": 0}


def test_brat_conflict_on_one_textbound_is_still_an_error(tmp_path):
    write_files(tmp_path, {"doc.txt": "No fever today.\n",
                           "doc.ann": "T1\tSign_symptom 3 8\tfever\nA1\tPOLARITY T1 NEG\nA2\tPOLARITY T1 POS\n"})
    check_error(invoke(["convert", "brat", "doc.ann", "out.spacy"], cwd=tmp_path), "doc.ann:3: conflicting POLARITY")


def test_corpus_entry_is_checked_before_any_split_is_written(tmp_path):
    case = next(c for c in CASES if c.id == "corpus-missing-split")
    run_case(case, tmp_path, {})
    assert not list(tmp_path.rglob("*.spacy"))


def predict_json(models, stdin, *args):
    result = invoke(["predict", "--model", models["model"], "--json", *args], stdin, Path.cwd())
    assert result.exit_code == 0, result.output
    # Split at \n only: a JSON line may hold a raw U+2028.
    return [json.loads(line) for line in result.stdout.split("\n") if line]


def test_predict_lines_one_output_per_line(models):
    stdin = "fever\u2028fever\n\n   \nA\x0cB\x85C\r\nlast fever"
    records = predict_json(models, stdin, "--lines")
    assert [r["text"] for r in records] == ["fever\u2028fever", "", "   ", "A\x0cB\x85C", "last fever"]
    assert [len(r["ents"]) for r in records] == [2, 0, 0, 0, 1]


def test_predict_whitespace_text_gives_one_empty_result(models):
    assert predict_json(models, None, "   ") == [{"text": "   ", "ents": []}]
    assert predict_json(models, "\n\n") == [{"text": "\n\n", "ents": []}]


def test_predict_utf8_bom_is_not_text(models, tmp_path):
    (tmp_path / "in.txt").write_bytes("\ufefffever\n".encode("utf-8"))
    assert predict_json(models, None, "--file", str(tmp_path / "in.txt"), "--lines")[0]["text"] == "fever"


def annotate_run(tmp_path, models, *extra, records=None):
    if records is not None:
        (tmp_path / "in.jsonl").write_text(jsonl(*records), encoding="utf-8")
    return invoke(["annotate", "in.jsonl", "out.jsonl", "--model", models["model"], *extra], cwd=tmp_path)


def out_records(path: Path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def test_annotate_line_separators_round_trip_and_resume(tmp_path, models):
    records = [{"id": "ls", "text": "Patient has\u2028fever\u2029and\x85fever."}, {"id": "b", "text": "fever"}]
    assert annotate_run(tmp_path, models, "--partition-size", "1", records=records).exit_code == 0
    assert [(r["id"], r["text"], len(r["ents"])) for r in out_records(tmp_path / "out.jsonl")] == [
        ("ls", records[0]["text"], 2), ("b", "fever", 1)]
    rerun = annotate_run(tmp_path, models, "--partition-size", "1")
    assert rerun.exit_code == 0 and "(2 from an earlier run)" in rerun.stdout


def test_annotate_incomplete_partition_is_run_again(tmp_path, models):
    records = [{"id": i, "text": "fever"} for i in range(3)]
    assert annotate_run(tmp_path, models, records=records).exit_code == 0
    part = annotate_module.part_path(tmp_path / "out.jsonl.parts", 0)
    part.write_text(part.read_text(encoding="utf-8").split("\n", 1)[0] + "\n", encoding="utf-8")
    rerun = annotate_run(tmp_path, models)
    assert rerun.exit_code == 0 and "(0 from an earlier run)" in rerun.stdout
    assert [r["id"] for r in out_records(tmp_path / "out.jsonl")] == ["0", "1", "2"]


def test_annotate_fingerprint_holds_the_settings(tmp_path):
    records = [("a", "fever")]
    base = dict(model="m", code=None, inference=None, partition_size=10)
    keys = {annotate_module.fingerprint(records, **base)}
    for change in ({"code": "x.py"}, {"inference": "int8"}, {"partition_size": 5}, {"model": "n"}):
        keys.add(annotate_module.fingerprint(records, **{**base, **change}))
    assert len(keys) == 5


def test_annotate_rejected_setting_leaves_resume_intact(tmp_path, models):
    records = [{"id": i, "text": "fever"} for i in range(2)]
    check_error(annotate_run(tmp_path, models, "--batch-size", "0", records=records), "--batch-size")
    assert not (tmp_path / "out.jsonl.parts").exists()
    assert annotate_run(tmp_path, models).exit_code == 0
    assert len(out_records(tmp_path / "out.jsonl")) == 2
