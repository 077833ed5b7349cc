"""Issue 37: outputs are checked before any work and written atomically; a
full disk leaves the old file (or nothing), never half a file."""
import os
import subprocess
import time
from pathlib import Path

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import DocBin

from med_ner.corpus.conversion import LabelMap

from med_ner.corpus.reading import split_lines
from med_ner.corpus.jsonl import convert_jsonl
from med_ner.outputs import OutputError, atomic_path, check_outputs, write_text
from med_ner.prediction.annotate import InputError, Progress, annotate, summary
from test_bad_input import check_error, invoke, jsonl, models  # noqa: F401 (fixture)


def test_fifo_output_is_refused_and_left_alone(tmp_path):
    fifo = tmp_path / "out.spacy"
    os.mkfifo(fifo)
    (tmp_path / "in.jsonl").write_text(jsonl({"text": "fever"}), encoding="utf-8")
    check_error(invoke(["convert", "jsonl", "in.jsonl", "out.spacy"], cwd=tmp_path), "out.spacy: is a FIFO")
    assert fifo.is_fifo()


def test_same_file_through_a_hard_link_is_refused(tmp_path):
    (tmp_path / "a").write_text("x")
    os.link(tmp_path / "a", tmp_path / "b")
    with pytest.raises(OutputError, match="the output is the input"):
        check_outputs([("output", tmp_path / "b")], [("input", tmp_path / "a")])


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert out.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def small_tmpfs(mount: Path, size: str):
    """A tmpfs of `size` at `mount` (skipped where mounting is not allowed); unmounted after."""
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


@pytest.fixture
def tiny_fs(tmp_path):
    """A 64 KiB tmpfs: writes past it fail with ENOSPC."""
    yield from small_tmpfs(tmp_path / "small", "64k")


def test_full_disk_leaves_the_old_output_whole(tiny_fs, tmp_path):
    out = tiny_fs / "out.spacy"
    source = tmp_path / "in.jsonl"
    source.write_text(jsonl({"text": "fever"}), encoding="utf-8")
    convert_jsonl(source, out, LabelMap())
    old = out.read_bytes()
    source.write_text(jsonl(*({"text": f"fever {os.urandom(600).hex()}"} for _ in range(400))), encoding="utf-8")
    with pytest.raises(OutputError, match="No space left on device"):
        convert_jsonl(source, out, LabelMap())
    assert out.read_bytes() == old and os.listdir(tiny_fs) == ["out.spacy"]
    assert len(list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))) == 1


def test_full_disk_in_the_cli_is_an_error_with_no_half_file(tiny_fs, tmp_path):
    (tmp_path / "in.jsonl").write_text(jsonl(*({"text": os.urandom(600).hex()} for _ in range(400))),
                                       encoding="utf-8")
    result = invoke(["convert", "jsonl", "in.jsonl", str(tiny_fs / "out.spacy")], cwd=tmp_path)
    check_error(result, "out.spacy: cannot write the output: No space left on device")
    assert os.listdir(tiny_fs) == []


def test_annotate_stats_on_a_full_disk(tiny_fs, tmp_path, models):  # noqa: F811
    (tmp_path / "in.jsonl").write_text(jsonl({"id": 1, "text": "fever"}), encoding="utf-8")
    with pytest.raises(OSError):  # fill the disk to the last byte
        with open(tiny_fs / "filler", "wb") as f:
            while True:
                f.write(b"x" * 1024)
                f.flush()
    result = invoke(["annotate", "in.jsonl", "out.jsonl", "--model", models["model"],
                     "--stats", str(tiny_fs / "s.json")], cwd=tmp_path)
    assert result.exit_code == 1 and "error: " in result.stderr
    assert "s.json: cannot write the --stats output: No space left on device" in result.stderr
    assert sorted(os.listdir(tiny_fs)) == ["filler"]


def test_annotate_resumed_run_says_so(tmp_path, models):  # noqa: F811
    (tmp_path / "in.jsonl").write_text(jsonl({"id": 1, "text": "fever"}), encoding="utf-8")
    for _ in range(2):
        result = invoke(["annotate", "in.jsonl", "out.jsonl", "--model", models["model"]], cwd=tmp_path)
    assert result.exit_code == 0 and "None" not in result.output and "inf" not in result.output
    assert "nothing left to annotate" in result.stdout


def test_progress_of_a_finished_run_has_no_infinite_eta(capsys):
    Progress(3, 3).update(0, force=True)
    assert "inf" not in capsys.readouterr().err


def test_annotate_folder_names_files_left_out(tmp_path, models):  # noqa: F811
    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    (notes / "a.txt").write_text("fever")
    (notes / "B.TXT").write_text("fever")
    (notes / "sub" / "c.txt").write_text("fever")
    (notes / "d.md").write_text("x")
    os.symlink(notes / "missing.txt", notes / "e.txt")
    result = annotate(notes, tmp_path / "out.jsonl", models["model"])
    assert result["documents_in"] == 3
    assert {(x["file"], x["reason"].split(" ")[0]) for x in result["left_out_files"]} == {
        ("d.md", "suffix"), ("e.txt", "dangling")}


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_annotate_unanswering_scheduler_fails_fast_without_parts(tmp_path, models):  # noqa: F811
    (tmp_path / "in.jsonl").write_text(jsonl({"id": 1, "text": "fever"}), encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(InputError, match="--dask: no Dask scheduler answers"):
        annotate(tmp_path / "in.jsonl", tmp_path / "out.jsonl", models["model"], dask="tcp://127.0.0.1:9")
    assert time.perf_counter() - start < 25
    assert not (tmp_path / "out.jsonl.parts").exists()


def test_summary_of_a_resumed_run():
    result = {"documents_in": 1, "documents_out": 1, "resumed_documents": 1, "docs_per_second": None}
    assert "None" not in summary(result, Path("o.jsonl"))


# Property tests: output paths and line endings.

@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(["same", "other-output", "parent-file", "fifo", "dir", "missing-parent", "fresh"]))
def test_output_path_kinds(tmp_path_factory, kind):
    base = tmp_path_factory.mktemp("out")
    source = base / "in.jsonl"
    source.write_text("x")
    out = {"same": source, "other-output": base / "r.json", "parent-file": base / "in.jsonl" / "o",
           "fifo": base / "p", "dir": base, "missing-parent": base / "a" / "b" / "o", "fresh": base / "o"}[kind]
    if kind == "fifo":
        os.mkfifo(out)
    outputs = [("output", out), ("--report", base / "r.json")]
    if kind in ("missing-parent", "fresh"):
        check_outputs(outputs, [("input", source)])
        write_text(out, "ok")
        assert out.read_text() == "ok"
    else:
        with pytest.raises(OutputError):
            check_outputs(outputs, [("input", source)])
    assert source.read_text() == "x"


@settings(max_examples=50, deadline=None)
@given(lines=st.lists(st.text(st.characters(blacklist_characters="\r\n"), max_size=8), min_size=1, max_size=6),
       ending=st.sampled_from(["\n", "\r\n", "\r"]), final=st.booleans())
def test_every_line_ending_convention_gives_the_same_lines(lines, ending, final):
    text = ending.join(lines) + (ending if final else "")
    expected = lines if final or lines[-1] != "" else lines[:-1]
    assert split_lines(text) == expected


def test_full_disk_while_loading_says_the_disk_is_full(tiny_fs, tmp_path, tiny_trained_pipeline):
    # Loading writes the transformer's weights to the temporary folder: there, a 64 KiB one.
    import sys

    env = dict(os.environ, TMPDIR=str(tiny_fs))
    done = subprocess.run([sys.executable, "-m", "med_ner", "predict", "fever", "--model", str(tiny_trained_pipeline)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "error: cannot load pipeline" in done.stderr and "the disk is full (no space left on the device" in done.stderr
    assert f"{tiny_fs}): free space or set TMPDIR to a folder with room" in done.stderr
    assert "install the en_med_ner wheel" not in done.stderr and "Traceback" not in done.stderr
