"""The inference benchmark's annotate rows, on a tiny trained pipeline and three
documents: each option is written into a copy's config (as add-context writes
the release runtime) and `med-ner annotate` loads that copy as a user would."""
import json

import pytest
import spacy

from conftest import ROOT
from bench.inference import InferenceBenchmarkError, compare_annotate


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_annotate_rows_load_each_option_from_the_config(tiny_trained_pipeline, tmp_path, monkeypatch):
    pipeline = tiny_trained_pipeline
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("MED_NER_CACHE", str(tmp_path / "cache"))
    texts = tmp_path / "texts"
    texts.mkdir()
    for i, line in enumerate((ROOT / "assets" / "sample" / "test.jsonl").read_text(encoding="utf-8").splitlines()[:3]):
        (texts / f"doc{i}.txt").write_text(json.loads(line)["text"], encoding="utf-8")
    output = tmp_path / "annotate.json"
    result = compare_annotate(str(pipeline), texts, ["float32", "onnx-int8-windows"], output, dask_workers=0)
    assert [(r["option"], r["documents"]) for r in result["rows"]] == [("float32", 3), ("onnx-int8-windows", 3)]
    assert all(r["docs_per_second"] > 0 and r["peak_rss_mb"] > 0 for r in result["rows"])
    model = spacy.util.load_config(output.with_suffix(".work") / "model-onnx-int8-windows" / "config.cfg")
    assert model["components"]["transformer"]["model"]["inference"] == "onnx-int8"
    assert model["components"]["transformer"]["model"]["inference_spans"]["window"] == 128
    assert json.loads(output.read_text(encoding="utf-8"))["rows"] == result["rows"]
    with pytest.raises(InferenceBenchmarkError, match="unknown inference options"):
        compare_annotate(str(pipeline), texts, ["fp8"], output, dask_workers=0)


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_pipelines_alternate_and_compare_as_ratios(tiny_trained_pipeline, tmp_path, monkeypatch):
    import shutil

    from spacy.tokens import DocBin

    from bench.inference import compare_pipelines, pipelines_table

    monkeypatch.setenv("MED_NER_CACHE", str(tmp_path / "cache"))
    nlp = spacy.blank("en")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    docs = []
    for line in (ROOT / "assets" / "sample" / "test.jsonl").read_text(encoding="utf-8").splitlines()[:4]:
        record = json.loads(line)
        doc = nlp.make_doc(record["text"])
        doc.ents = [s for s in (doc.char_span(e["start"], e["end"], e["label"]) for e in record["spans"]) if s]
        docs.append(doc)
    DocBin(docs=docs).to_disk(corpus / "test.spacy")
    other = tmp_path / "copy"
    shutil.copytree(tiny_trained_pipeline, other)
    output = tmp_path / "pipelines.json"
    result = compare_pipelines([str(tiny_trained_pipeline), str(other)], corpus, "float32", output, rounds=2)
    first, second = result["models"]
    assert [len(runs) for runs in result["runs"].values()] == [2, 2]
    assert first["ratio_to_first"] == 1.0 and second["ratio_to_first"] > 0
    assert second["words_per_second"] == max(second["words_per_second_by_round"])
    # The same weights predict the same entities.
    assert first["test"] == second["test"]
    assert json.loads(output.read_text(encoding="utf-8"))["models"] == result["models"]
    assert f"| {other} |" in pipelines_table(result)
    with pytest.raises(InferenceBenchmarkError, match="at least two pipelines"):
        compare_pipelines([str(other)], corpus, "float32", output)
    with pytest.raises(InferenceBenchmarkError, match="not a pipeline directory"):
        compare_pipelines([str(other), str(tmp_path / "nothing")], corpus, "float32", output)
    with pytest.raises(InferenceBenchmarkError, match="unknown inference option 'fp8'"):
        compare_pipelines([str(other), str(other)], corpus, "fp8", output)
