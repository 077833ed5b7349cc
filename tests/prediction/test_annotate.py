"""Batch annotation: input formats and errors, local nlp.pipe against a
two-worker Dask LocalCluster, resume, and a worker killed mid-run."""
import json
import os
import signal
import threading
import time

import pytest
import spacy
from spacy.tokens import DocBin

from med_ner.prediction import annotate
from med_ner.components import clinical_context
from conftest import ROOT

CODE = str(ROOT / "tests" / "slow_component.py")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(
        [{"label": "SYMPTOM", "pattern": "fever"}, {"label": "DISEASE", "pattern": [{"LOWER": "malaria"}]},
         {"label": "DRUG", "pattern": "amodiaquine"}])
    nlp.add_pipe("clinical_context", config={"use_model": False}).initialize(
        lambda: [], nlp=nlp, triggers=str(clinical_context.default_triggers("en")))
    path = tmp_path_factory.mktemp("annotate") / "pipeline"
    nlp.to_disk(path)
    return str(path)


@pytest.fixture(scope="module")
def slow_pipeline(pipeline, tmp_path_factory):
    import slow_component  # noqa: F401

    nlp = spacy.load(pipeline)
    nlp.add_pipe("test_slow", first=True)
    path = tmp_path_factory.mktemp("annotate-slow") / "pipeline"
    nlp.to_disk(path)
    return str(path)


def write_jsonl(path, n):
    texts = ["No fever but malaria.", "Malaria treated with amodiaquine; fever resolved.", "Nothing to report."]
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"doc-{i:04d}", "text": f"Case {i}. {texts[i % 3]}"}) + "\n")
    return path


def test_input_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    with pytest.raises(annotate.InputError, match=r"bad.jsonl:2: no 'id'"):
        annotate.read_records(bad)
    bad.write_text('{"id": 1, "text": "a"}\n\n{"id": 1, "text": "b"}\n', encoding="utf-8")
    with pytest.raises(annotate.InputError, match=r"bad.jsonl:3: id '1' repeats line 1"):
        annotate.read_records(bad)
    bad.write_text('{"id": 1, "text": "a"\n', encoding="utf-8")
    with pytest.raises(annotate.InputError, match=r"bad.jsonl:1 \(offset \d+\): invalid JSON"):
        annotate.read_records(bad)
    with pytest.raises(annotate.InputError, match="expected a directory"):
        annotate.read_records(tmp_path / "x.csv")


def test_text_directory_and_docbin_inputs(tmp_path):
    (tmp_path / "txt" / "sub").mkdir(parents=True)
    (tmp_path / "txt" / "a.txt").write_text("No fever.", encoding="utf-8")
    (tmp_path / "txt" / "sub" / "b.txt").write_text("Malaria.", encoding="utf-8")
    assert annotate.read_records(tmp_path / "txt") == [("a", "No fever."), ("sub/b", "Malaria.")]
    nlp = spacy.blank("en")
    docs = [nlp("one"), nlp("two")]
    docs[0].user_data["id"] = "first"
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "in.spacy")
    assert annotate.read_records(tmp_path / "in.spacy") == [("first", "one"), ("doc-1", "two")]


def read_output(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_local_output_resume_and_docbin(tmp_path, pipeline):
    src = write_jsonl(tmp_path / "in.jsonl", 230)
    out = tmp_path / "out.jsonl"
    result = annotate.annotate(src, out, pipeline, code=CODE, partition_size=50, docbin=tmp_path / "out.spacy")
    assert result["documents_in"] == result["documents_out"] == 230 and result["resumed_documents"] == 0
    records = read_output(out)
    assert [r["id"] for r in records] == [f"doc-{i:04d}" for i in range(230)]
    first = records[0]
    assert first["ents"][0] == {"start": 11, "end": 16, "label": "SYMPTOM", "text": "fever", "negated": True,
                                "uncertain": False}
    nlp = spacy.load(pipeline)
    assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(r["text"] for r in records)] == \
        [[(e["start"], e["end"], e["label"]) for e in r["ents"]] for r in records]
    docs = list(DocBin().from_disk(tmp_path / "out.spacy").get_docs(nlp.vocab))
    assert len(docs) == 230 and docs[0].user_data["id"] == "doc-0000" and docs[0].ents[0].text == "fever"

    # A rerun redoes only the missing partition.
    expected = out.read_text(encoding="utf-8")
    out.unlink()
    (tmp_path / "out.jsonl.parts" / "part-000002.jsonl").unlink()
    again = annotate.annotate(src, out, pipeline, code=CODE, partition_size=50)
    assert (again["resumed_documents"], again["processed_documents"]) == (180, 50)
    assert out.read_text(encoding="utf-8") == expected


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_dask_two_workers_match_local(tmp_path, pipeline):
    src = write_jsonl(tmp_path / "in.jsonl", 300)
    annotate.annotate(src, tmp_path / "local.jsonl", pipeline, code=CODE, partition_size=40)
    result = annotate.annotate(src, tmp_path / "dask.jsonl", pipeline, code=CODE, partition_size=40, dask="local",
                               workers=2)
    assert result["documents_out"] == 300
    assert (tmp_path / "dask.jsonl").read_text(encoding="utf-8") == (tmp_path / "local.jsonl").read_text(encoding="utf-8")


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_killed_worker_loses_and_repeats_nothing(tmp_path, pipeline, slow_pipeline):
    from dask.distributed import Client, LocalCluster

    src = write_jsonl(tmp_path / "in.jsonl", 300)
    annotate.annotate(src, tmp_path / "local.jsonl", pipeline, code=CODE, partition_size=300)
    out = tmp_path / "dask.jsonl"
    parts = tmp_path / "dask.jsonl.parts"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        outcome = {}

        def job():
            try:
                outcome["result"] = annotate.annotate(src, out, slow_pipeline, code=CODE, partition_size=15,
                                                      dask=cluster.scheduler_address)
            except BaseException as err:  # reported by the assertion below
                outcome["error"] = err

        thread = threading.Thread(target=job)
        thread.start()
        deadline = time.time() + 120
        while not list(parts.glob("part-*.jsonl")) and time.time() < deadline:
            time.sleep(0.05)
        done_before_kill = len(list(parts.glob("part-*.jsonl")))
        pids = client.run(os.getpid)
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        thread.join(timeout=300)
    assert "error" not in outcome, outcome.get("error")
    assert 0 < done_before_kill < 20, "the worker must die mid-run"
    assert outcome["result"]["documents_in"] == outcome["result"]["documents_out"] == 300
    ids = [r["id"] for r in read_output(out)]
    assert len(ids) == len(set(ids)) == 300
    assert [(r["id"], r["ents"]) for r in read_output(out)] == [(r["id"], r["ents"]) for r in read_output(tmp_path / "local.jsonl")]
