"""Faults, each with a pipeline that takes 20 ms a document (tests/slow_component.py):
a request over the timeout, a full queue, a client that goes away mid-request,
a shutdown with requests in flight, and a model that does not load. Each ends
as specified, and the service serves on afterwards where it still runs."""
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import spacy
from service_helpers import ROOT, SLOW_COMPONENT, ServerProcess, ServerThread, ruler_pipeline, sample_texts

from spacy.language import Language

from med_ner.prediction.records import entity_records
from med_ner.service import ServiceSettings



@Language.component("test_fails_on_boom")
def fails_on_boom(doc):
    if "BOOM" in doc.text:
        raise ValueError(f"cannot handle {doc.text!r}")  # quotes the text, as some errors do
    return doc


@pytest.fixture(scope="module")
def slow_pipeline(tmp_path_factory):
    return ruler_pipeline(tmp_path_factory.mktemp("faults") / "pipeline", slow=True)


@pytest.fixture(scope="module")
def slow_nlp(slow_pipeline):
    return spacy.load(slow_pipeline)


def serves(url: str) -> bool:
    started = time.monotonic()
    response = httpx.post(f"{url}/v1/entities", json={"text": "She denies chest pain."}, timeout=30)
    return response.status_code == 200 and time.monotonic() - started < 5


def wait_idle(worker, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while worker.queued and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # the batch it was running


def test_request_over_the_timeout_gets_504_and_its_queued_documents_are_dropped(slow_pipeline, slow_nlp):
    settings = ServiceSettings(model=str(slow_pipeline), request_timeout_s=0.3, max_batch_size=4)
    with ServerThread(settings, slow_nlp) as server:
        texts = [f"Fever on day {i}." for i in range(40)]  # 0.8 s of model time
        started = time.monotonic()
        response = httpx.post(f"{server.url}/v1/entities", json={"texts": texts}, timeout=30)
        assert response.status_code == 504
        assert response.json() == {"error": "the request took over request_timeout_s (0.3 s); send fewer or "
                                            "shorter texts, or retry later"}
        assert time.monotonic() - started < 0.3 + 0.5
        wait_idle(server.service.worker)
        assert server.service.worker.documents < 30, "documents of the timed-out request still ran"
        assert server.service.in_flight == 0
        assert serves(server.url)


def test_full_queue_gets_503_with_retry_after(slow_pipeline, slow_nlp):
    settings = ServiceSettings(model=str(slow_pipeline), max_queued_documents=8, max_batch_size=4, retry_after_s=2)
    with ServerThread(settings, slow_nlp) as server:
        bodies = [{"texts": [f"Cough {i}.", f"Fever {i}.", "No rash.", "Nausea."]} for i in range(8)]
        with httpx.Client(timeout=30) as http, ThreadPoolExecutor(len(bodies)) as pool:
            responses = list(pool.map(lambda body: http.post(f"{server.url}/v1/entities", json=body), bodies))
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) == {200, 503} and statuses.count(200) >= 2, statuses
        for response in responses:
            if response.status_code == 503:
                assert response.headers["retry-after"] == "2"
                assert response.json()["error"].startswith("the queue is full (")
                assert response.json()["error"].endswith("documents waiting); retry after 2 s")
            else:
                assert len(response.json()["documents"]) == 4
        assert serves(server.url)


def test_client_that_disconnects_mid_request(slow_pipeline, slow_nlp, caplog):
    caplog.set_level(logging.INFO, logger="med_ner.service")
    settings = ServiceSettings(model=str(slow_pipeline), max_batch_size=4)
    with ServerThread(settings, slow_nlp) as server:
        body = json.dumps({"texts": [f"Chest pain {i}." for i in range(50)]}).encode()  # 1 s of model time
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"POST /v1/entities HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            time.sleep(0.2)
        wait_idle(server.service.worker)
        assert server.service.worker.documents < 35, "the disconnected client's documents all ran"
        assert server.service.in_flight == 0
        assert any("client disconnected" in r.getMessage() for r in caplog.records)
        assert serves(server.url)


def test_pipeline_error_on_one_text(slow_pipeline, caplog):
    caplog.set_level(logging.INFO, logger="med_ner.service")
    nlp = spacy.load(slow_pipeline, exclude=["test_slow"])
    nlp.add_pipe("test_fails_on_boom")
    with ServerThread(ServiceSettings(model=str(slow_pipeline)), nlp) as server:
        response = httpx.post(f"{server.url}/v1/entities", json={"texts": ["No fever.", "BOOM: chest pain", "Cough."]})
        assert response.status_code == 500
        assert response.json() == {"error": "texts[1]: the pipeline failed on this text (ValueError)"}
        assert any("ValueError" in r.getMessage() for r in caplog.records)
        assert not [r for r in caplog.records if "chest pain" in r.getMessage()]
        assert httpx.post(f"{server.url}/v1/entities", json={"texts": ["No fever.", "Cough."]}).status_code == 200


def test_shutdown_lets_in_flight_requests_finish_and_refuses_new_ones(slow_pipeline, slow_nlp, tmp_path):
    texts = sample_texts("test")[:15]  # 0.3 s of model time a request
    expected = [entity_records(doc) for doc in slow_nlp.pipe(texts)]
    answers = {}
    with ServerProcess(slow_pipeline, tmp_path / "server.log", "--max-batch-size", "4",
                       code=SLOW_COMPONENT) as server:

        sent = [threading.Event() for _ in range(3)]

        def body(index):
            yield json.dumps({"texts": texts}).encode()
            sent[index].set()

        def send(index):
            answers[index] = httpx.post(f"{server.url}/v1/entities", content=body(index), timeout=60,
                                        headers={"content-type": "application/json"})

        clients = [threading.Thread(target=send, args=(i,)) for i in range(3)]
        for client in clients:
            client.start()
        assert all(event.wait(30) for event in sent)
        time.sleep(0.1)  # for the server to read the last chunk
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        refused = httpx.post(f"{server.url}/v1/entities", json={"text": "No fever."}, timeout=30)
        ready = httpx.get(f"{server.url}/ready", timeout=30)
        alive = httpx.get(f"{server.url}/health", timeout=30)
        for client in clients:
            client.join(60)
        status = server.process.wait(60)
    assert refused.status_code == 503
    assert refused.json() == {"error": "the service is shutting down"}
    assert refused.headers["retry-after"] == "1" and refused.headers["connection"] == "close"
    assert ready.status_code == 503 and ready.json() == {"status": "draining"}
    assert alive.status_code == 200
    assert sorted(answers) == [0, 1, 2]
    for response in answers.values():
        assert response.status_code == 200
        assert [d["entities"] for d in response.json()["documents"]] == expected
    # uvicorn re-raises the signal once it has shut down cleanly.
    assert status in (0, -signal.SIGTERM)
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log and "shutting down: " in log


def test_model_that_does_not_load(tmp_path):
    result = subprocess.run([sys.executable, "-m", "med_ner", "serve", "--model", str(tmp_path / "missing"),
                             "--port", "0"], capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    assert result.returncode == 1
    assert f"error: cannot load pipeline '{tmp_path / 'missing'}'" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_setting(tmp_path):
    result = subprocess.run([sys.executable, "-m", "med_ner", "serve", "--max-batch-size", "0"],
                            capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "error: --max-batch-size: Input should be greater than or equal to 1"


def test_unknown_inference_runtime_is_refused_before_loading():
    result = subprocess.run([sys.executable, "-m", "med_ner", "serve", "--inference", "fast"],
                            capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == \
        "error: --inference: 'fast' is not one of float32, int8, bf16, onnx, onnx-int8"
