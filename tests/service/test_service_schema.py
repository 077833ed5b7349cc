"""/openapi.json says what the service checks: schemathesis (every check on,
positive and negative data, bounded in examples and time) finds nothing against
the service on 127.0.0.1, and the bodies the service refuses are outside the schema."""
import os
import subprocess
import sys
from pathlib import Path

import httpx
import jsonschema_rs
import pytest
from service_helpers import ServerThread, ruler_pipeline

from med_ner.service import ServiceSettings

CONFIG = Path(__file__).resolve().parent / "schemathesis"
# Every schema-valid request is served: the total limit (not a JSON Schema
# keyword) is at least max_texts_per_request x max_chars_per_text.
LIMITS = dict(max_chars_per_text=200, max_texts_per_request=5, max_chars_per_request=1000, max_body_bytes=100_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pipeline = ruler_pipeline(tmp_path_factory.mktemp("schema") / "pipeline")
    with ServerThread(ServiceSettings(model=str(pipeline), **LIMITS)) as running:
        yield running


@pytest.fixture(scope="module")
def request_schema(server):
    schema = httpx.get(f"{server.url}/openapi.json").json()
    return {**schema["components"]["schemas"]["EntitiesRequest"], "components": schema["components"]}


def valid(schema: dict, body: dict) -> bool:
    return jsonschema_rs.Draft202012Validator(schema).is_valid(body)


@pytest.mark.parametrize("body", [
    {"text": "a", "texts": ["b"]},
    {"text": "a", "documents": [{"id": 1, "text": "b"}]},
    {"documents": [{"id": "a", "text": "x"}, {"id": "a", "text": "x"}]},
    {"texts": ["a"] * 6},
    {"text": "x" * 201},
    {"documents": [{"id": True, "text": "a"}]},
    {"text": None},
    {},
])
def test_refused_bodies_are_outside_the_schema(server, request_schema, body):
    assert httpx.post(f"{server.url}/v1/entities", json=body).status_code in (413, 422)
    assert not valid(request_schema, body)


@pytest.mark.parametrize("body", [
    {"text": "No fever."},
    {"text": "No fever.", "texts": None, "documents": None},
    {"texts": ["a"] * 5},
    {"documents": [{"id": "a", "text": "x"}, {"id": 0, "text": "x"}]},
    {"text": "x" * 200},
])
def test_served_bodies_are_inside_the_schema(server, request_schema, body):
    assert httpx.post(f"{server.url}/v1/entities", json=body).status_code == 200
    assert valid(request_schema, body)


def test_schema_states_unique_ids_and_limits(request_schema):
    schemas = request_schema["components"]["schemas"]
    documents = schemas["DocumentsRequest"]["properties"]["documents"]
    assert documents["x-unique-item-properties"] == ["id"] and documents["maxItems"] == 5
    assert schemas["TextRequest"]["properties"]["text"]["maxLength"] == 200
    assert "1,000 characters in all" in request_schema["description"]


def test_schemathesis_finds_nothing(server, tmp_path):
    # Run in tmp_path: hypothesis keeps its files in the working directory.
    env = dict(os.environ, SCHEMATHESIS_HOOKS=str(CONFIG / "unique_ids.py"))
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(CONFIG / "schemathesis.toml"), "run",
         f"{server.url}/openapi.json", "--checks", "all", "--max-examples", "40", "--seed", "37",
         "--workers", "1", "--request-timeout", "30"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout
