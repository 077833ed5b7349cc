"""Issue 37: outputs that belong together (a DocBin and its report, the three
split lists, the two views) are written all or none, and folder outputs
(pipelines) replace the old folder whole or leave it."""
import json
import os

import pytest
import spacy
from spacy.tokens import DocBin

from med_ner.outputs import OutputError, atomic_dir, output_group, write_text
from test_bad_input import invoke, jsonl
from test_outputs import small_tmpfs, tiny_fs  # noqa: F401 (fixture)

LABEL_MAP = json.dumps({"labels": ["SYMPTOM"], "map": {"OTHER": None}})


def records(n: int) -> str:
    """n records, each with one entity the label map drops: a report much larger than the DocBin."""
    return jsonl(*({"id": i, "text": "fever and cough", "spans": [{"start": 0, "end": 5, "label": "SYMPTOM"},
                                                                   {"start": 10, "end": 15, "label": "OTHER"}]}
                   for i in range(n)))


def fill(folder, leave: int) -> None:
    """Fill the file system of `folder` but `leave` bytes."""
    stats = os.statvfs(folder)
    with open(folder / "filler", "wb") as f:
        f.write(b"x" * (stats.f_bavail * stats.f_frsize - leave))


def test_full_disk_between_docbin_and_report_keeps_the_old_pair(tiny_fs, tmp_path):  # noqa: F811
    (tmp_path / "map.json").write_text(LABEL_MAP, encoding="utf-8")
    (tmp_path / "in.jsonl").write_text(records(1), encoding="utf-8")
    args = ["convert", "jsonl", "in.jsonl", str(tiny_fs / "out.spacy"), "--label-map", "map.json"]
    assert invoke(args, cwd=tmp_path).exit_code == 0
    old_docbin, old_report = (tiny_fs / "out.spacy").read_bytes(), (tiny_fs / "reports" / "out.json").read_bytes()
    # The new DocBin (under 4 KiB) fits in what is left, its report (over 30 KiB) does not.
    (tmp_path / "in.jsonl").write_text(records(150), encoding="utf-8")
    fill(tiny_fs, 12 * 1024)
    result = invoke(args, cwd=tmp_path)
    assert result.exit_code == 1 and "No space left on device" in result.stderr and "Traceback" not in result.output
    assert (tiny_fs / "out.spacy").read_bytes() == old_docbin
    assert (tiny_fs / "reports" / "out.json").read_bytes() == old_report
    assert sorted(os.listdir(tiny_fs)) == ["filler", "out.spacy", "reports"]
    assert os.listdir(tiny_fs / "reports") == ["out.json"]
    docs = list(DocBin().from_disk(tiny_fs / "out.spacy").get_docs(spacy.blank("en").vocab))
    assert len(docs) == json.loads(old_report)["documents_out"] == 1


def test_a_failure_inside_a_group_renames_nothing(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).write_text("old")
    with pytest.raises(RuntimeError):
        with output_group():
            write_text(tmp_path / "a", "new")
            raise RuntimeError("the second output failed")
    assert [(tmp_path / n).read_text() for n in ("a", "b")] == ["old", "old"]
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_a_failed_rename_in_a_group_restores_the_renamed_ones(tmp_path):
    (tmp_path / "a").write_text("old")
    (tmp_path / "b").mkdir()  # a folder: renaming a file over it fails
    with pytest.raises(OutputError, match="cannot write"):
        with output_group():
            write_text(tmp_path / "a", "new")
            write_text(tmp_path / "b", "new")
    assert (tmp_path / "a").read_text() == "old" and (tmp_path / "b").is_dir()
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_atomic_dir_replaces_the_whole_folder_or_nothing(tmp_path):
    out = tmp_path / "model"
    with atomic_dir(out) as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "new.txt").write_text("half")
            raise RuntimeError("killed")
    assert os.listdir(out) == ["old.txt"] and os.listdir(tmp_path) == ["model"]
    with atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("new")
    assert os.listdir(out) == ["new.txt"] and os.listdir(tmp_path) == ["model"]


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs (a saved blank pipeline takes about 120 KiB)."""
    yield from small_tmpfs(tmp_path / "small1m", "1m")


def test_full_disk_while_saving_a_pipeline_keeps_the_old_one(small_fs):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "SYMPTOM", "pattern": "fever"}])
    with atomic_dir(small_fs / "model") as tmp:
        nlp.to_disk(tmp)
    before = sorted(os.listdir(small_fs / "model"))
    nlp.get_pipe("entity_ruler").add_patterns([{"label": "SYMPTOM", "pattern": os.urandom(100000).hex()}])
    fill(small_fs, 160 * 1024)
    with pytest.raises(OutputError, match="model: cannot write the output folder: No space left on device"):
        with atomic_dir(small_fs / "model") as tmp:
            nlp.to_disk(tmp)
    assert sorted(os.listdir(small_fs / "model")) == before and sorted(os.listdir(small_fs)) == ["filler", "model"]
    assert spacy.load(small_fs / "model").pipe_names == ["entity_ruler"]


def test_split_lists_are_written_together(tmp_path):
    folder = tmp_path / "brat"
    folder.mkdir()
    for i in range(3):
        (folder / f"d{i}.txt").write_text("fever")
        (folder / f"d{i}.ann").write_text("")
    result = invoke(["convert", "split", "brat", "out", "--sizes", "1", "1", "1"], cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "out")) == ["dev.txt", "test.txt", "train.txt"]
    (tmp_path / "out" / "dev.txt").unlink()
    (tmp_path / "out" / "dev.txt").mkdir()  # the second list cannot be written: no list changes
    old = (tmp_path / "out" / "train.txt").read_text()
    result = invoke(["convert", "split", "brat", "out", "--sizes", "1", "1", "1", "--seed", "2"], cwd=tmp_path)
    assert result.exit_code == 1 and "dev.txt: is a directory" in result.stderr
    assert (tmp_path / "out" / "train.txt").read_text() == old
