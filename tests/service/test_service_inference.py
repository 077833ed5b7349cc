"""The service loads its pipeline with the --inference runtime: an ONNX-served
small BERT pipeline answers what the float32 pipeline finds offline."""
import httpx
import pytest
from spacy.util import fix_random_seed
from conftest import save_tiny_bert
from service_helpers import ServerThread, sample_texts, transformer_pipeline

from med_ner.inference.loading import load_pipeline
from med_ner.prediction.records import entity_records
from med_ner.service.settings import ServiceSettings

pytest.importorskip("onnxruntime")


def test_served_onnx_runtime_matches_float32(tmp_path, monkeypatch):
    monkeypatch.setenv("MED_NER_CACHE", str(tmp_path / "cache"))
    fix_random_seed(0)  # whether an untrained ner finds entities depends on its initial weights, not the test order
    (tmp_path / "bert").mkdir()
    pipeline = transformer_pipeline(tmp_path / "pipeline", save_tiny_bert(tmp_path / "bert", hidden_size=64))
    texts = sample_texts("test")[:8]
    offline = [entity_records(doc) for doc in load_pipeline(str(pipeline)).pipe(texts)]
    assert any(offline), "the untrained ner finds entities, so the comparison means something"
    with ServerThread(ServiceSettings(model=str(pipeline), inference="onnx")) as server:
        info = httpx.get(f"{server.url}/v1/model").json()
        assert info["inference"]["runtime"] == "onnx"
        assert server.service.nlp.config["components"]["transformer"]["model"]["inference"] == "onnx"
        response = httpx.post(f"{server.url}/v1/entities", json={"texts": texts}, timeout=60)
        assert response.status_code == 200, response.text
        served = [document["entities"] for document in response.json()["documents"]]
    assert list((tmp_path / "cache").rglob("*.onnx")), "the served predictions ran through the ONNX export"
    assert [[(e["start"], e["end"], e["label"]) for e in doc] for doc in served] == \
        [[(e["start"], e["end"], e["label"]) for e in doc] for doc in offline]
