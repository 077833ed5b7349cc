"""The service's answers equal local nlp.pipe + entity_records exactly, for
single, batch and id'd requests, alone and under concurrency; /health, /ready,
/v1/model, the OpenAPI schema, and API-key auth."""
import asyncio

import httpx
import pytest
import spacy
from service_helpers import ServerThread, ruler_pipeline, sample_texts

from med_ner.prediction.records import entity_records
from med_ner.service import ServiceSettings
from med_ner.service.schemas import EntitiesResponse


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return ruler_pipeline(tmp_path_factory.mktemp("service") / "pipeline")


@pytest.fixture(scope="module")
def expected(pipeline):
    texts = sample_texts("test")
    return texts, [entity_records(doc) for doc in spacy.load(pipeline).pipe(texts)]


@pytest.fixture(scope="module")
def server(pipeline):
    with ServerThread(ServiceSettings(model=str(pipeline), max_batch_size=8)) as running:
        yield running


def entities(url: str, body: dict, **kwargs) -> list:
    response = httpx.post(f"{url}/v1/entities", json=body, timeout=60, **kwargs)
    assert response.status_code == 200, response.text
    EntitiesResponse.model_validate(response.json())  # the shape /docs promises
    return response.json()["documents"]


def test_expected_has_entities_and_flags(expected):
    _, records = expected
    assert sum(map(len, records)) > 50
    assert any(entity["negated"] for doc in records for entity in doc)


def test_single_text_requests(server, expected):
    texts, records = expected
    for text, want in zip(texts, records):
        assert entities(server.url, {"text": text}) == [{"id": 0, "entities": want}]


def test_batch_and_documents(server, expected):
    texts, records = expected
    assert entities(server.url, {"texts": texts}) == [{"id": i, "entities": r} for i, r in enumerate(records)]
    ids = [f"note-{len(texts) - i}" for i in range(len(texts))]
    ids[3] = 17  # integer ids come back as integers
    documents = entities(server.url, {"documents": [{"id": i, "text": t} for i, t in zip(ids, texts)]})
    assert documents == [{"id": i, "entities": r} for i, r in zip(ids, records)]


def test_concurrent_requests_batched_and_exact(server, expected):
    texts, records = expected
    # 16 clients at once: each test text alone, and the split in batches of 1-5 texts.
    bodies = [{"text": t} for t in texts] * 4 + [{"texts": texts[i:i + 1 + i % 5]} for i in range(len(texts))] * 2
    wants = [[records[i % len(texts)]] for i in range(len(texts) * 4)]
    wants += [records[i:i + 1 + i % 5] for i in range(len(texts))] * 2
    batches_before = server.service.worker.batches
    documents_before = server.service.worker.documents

    async def send_all():
        async with httpx.AsyncClient(timeout=60) as http:
            gate = asyncio.Semaphore(16)

            async def send(body):
                async with gate:
                    return await http.post(f"{server.url}/v1/entities", json=body)

            return await asyncio.gather(*(send(body) for body in bodies))

    responses = asyncio.run(send_all())
    assert [r.status_code for r in responses] == [200] * len(bodies)
    for response, want in zip(responses, wants):
        assert [d["entities"] for d in response.json()["documents"]] == want
    documents = server.service.worker.documents - documents_before
    batches = server.service.worker.batches - batches_before
    assert documents == sum(map(len, wants))
    assert batches < documents / 2, "concurrent requests were not grouped into batches"


def test_health_ready_model_and_docs(server):
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/ready").json() == {"status": "ready"}
    info = httpx.get(f"{server.url}/v1/model").json()
    assert info["name"] == "en_service_test" and info["version"] == "0.0.1"
    assert info["labels"] == ["BODY_PART", "DISEASE", "DRUG", "PROCEDURE", "SYMPTOM", "TEST"]
    assert info["pipeline"] == ["entity_ruler", "clinical_context"]
    assert info["performance"] == {"ents_f": 0.5} and info["evaluation"] == {"split": "test"}
    assert info["inference"]["runtime"] is None and info["inference"]["max_batch_size"] == 8
    assert httpx.get(f"{server.url}/docs").status_code == 200
    schema = httpx.get(f"{server.url}/openapi.json").json()
    body = schema["paths"]["/v1/entities"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/EntitiesRequest"}
    forms = [ref["$ref"].rsplit("/", 1)[1] for ref in schema["components"]["schemas"]["EntitiesRequest"]["oneOf"]]
    assert forms == ["TextRequest", "TextsRequest", "DocumentsRequest"]
    assert "DocumentIn" in schema["components"]["schemas"] and "Entity" in schema["components"]["schemas"]


def test_api_key(pipeline):
    nlp = spacy.load(pipeline)
    with ServerThread(ServiceSettings(model=str(pipeline), api_key="s3cret"), nlp) as server:
        url = f"{server.url}/v1/entities"
        for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": "s3cret-"}, {"X-API-Key": "s3cre"}):
            response = httpx.post(url, json={"text": "No fever."}, headers=headers)
            assert response.status_code == 401
            assert response.json() == {"error": "missing or wrong API key: send it in the X-API-Key header"}
        assert httpx.get(f"{server.url}/v1/model").status_code == 401
        assert httpx.post(url, json={"text": "No fever."}, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert httpx.get(f"{server.url}/health").status_code == 200  # probes need no key


def test_demo_mounted_at_demo(pipeline):
    from med_ner.service import demo
    from med_ner.service.app import QueuedPipeline

    nlp = spacy.load(pipeline)
    with ServerThread(ServiceSettings(model=str(pipeline), demo=True), nlp) as server:
        page = httpx.get(f"{server.url}/demo/", timeout=60)
        assert page.status_code == 200 and "gradio" in page.text.lower()
        assert httpx.post(f"{server.url}/v1/entities", json={"text": "No fever."}).status_code == 200
        queued = QueuedPipeline(server.service)
        documents_before = server.service.worker.documents
        text = "She denies chest pain but has fever and nausea."
        assert demo.analyse(queued, text, 1000) == demo.analyse(nlp, text, 1000)
        assert server.service.worker.documents == documents_before + 1  # the demo's call went through the worker
