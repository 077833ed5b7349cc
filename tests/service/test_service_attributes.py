"""Linked attributes in the service's answers and in its OpenAPI schema, and in
the demo's entity table; a pipeline that links attributes is served as
tests/attribute_component.py sets them, on 127.0.0.1."""
import httpx
import pytest
import spacy
from service_helpers import ServerThread, save

import attribute_component  # noqa: F401  (registers test_attributes)
from med_ner.prediction.records import document_record
from med_ner.service import ServiceSettings, demo
from med_ner.service.schemas import EntitiesResponse

TEXT = "Severe crushing chest pain. Hemoglobin was 7.2 g/dL today. Amoxicillin 500 mg orally for 7 days."
PATTERNS = [{"label": "BODY_PART", "pattern": "chest"}, {"label": "SYMPTOM", "pattern": "pain"},
            {"label": "TEST", "pattern": "Hemoglobin"}, {"label": "DRUG", "pattern": "Amoxicillin"}]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(PATTERNS)
    nlp.add_pipe("test_attributes")
    return save(nlp, tmp_path_factory.mktemp("attributes") / "pipeline")


@pytest.fixture(scope="module")
def server(pipeline):
    with ServerThread(ServiceSettings(model=str(pipeline))) as running:
        yield running


def test_answer_carries_entity_and_document_attributes(server, pipeline):
    response = httpx.post(f"{server.url}/v1/entities", json={"documents": [{"id": "n1", "text": TEXT},
                                                                         {"id": "n2", "text": "No pain."}]})
    assert response.status_code == 200, response.text
    EntitiesResponse.model_validate(response.json())
    nlp = spacy.load(pipeline)
    first, second = response.json()["documents"]
    assert first == {"id": "n1", **document_record(nlp(TEXT), entities_key="entities")}
    pain = first["entities"][1]
    assert pain["attributes"] == [
        {"type": "SEVERITY", "text": "Severe", "start": 0, "end": 6, "score": 0.875},
        {"type": "SITE", "text": "chest", "start": 16, "end": 21, "score": 0.875}]
    assert first["attributes"][0] == {"start": 0, "end": 6, "label": "SEVERITY", "text": "Severe", "score": 0.625,
                                      "head": {"start": 22, "end": 26, "label": "SYMPTOM"}}
    assert first["attributes"][-1]["head"] is None
    assert second == {"id": "n2", "entities": [{"start": 3, "end": 7, "label": "SYMPTOM", "text": "pain",
                                                "attributes": []}], "attributes": []}


def test_openapi_schema_types_the_attributes(server):
    schemas = httpx.get(f"{server.url}/openapi.json").json()["components"]["schemas"]
    entity_attributes = schemas["Entity"]["properties"]["attributes"]
    assert entity_attributes["anyOf"][0]["items"] == {"$ref": "#/components/schemas/LinkedAttribute"}
    assert "describe this entity" in entity_attributes["description"]
    linked = schemas["LinkedAttribute"]
    assert set(linked["required"]) == {"type", "text", "start", "end", "score"}
    assert all("description" in field for field in linked["properties"].values())
    assert linked["properties"]["score"]["maximum"] == 1
    document = schemas["DocumentOut"]["properties"]["attributes"]
    assert document["anyOf"][0]["items"] == {"$ref": "#/components/schemas/Attribute"}
    attribute = schemas["Attribute"]
    assert {"start", "end", "label", "text", "head"} <= set(attribute["required"])
    assert all("description" in field for field in attribute["properties"].values())
    assert schemas["AttributeHead"]["required"] == ["start", "end", "label"]


def test_demo_table_shows_attributes(pipeline):
    nlp = spacy.load(pipeline)
    segments, rows, message = demo.analyse(nlp, TEXT, 1000)
    column = demo.COLUMNS.index("attributes")
    assert [row[column] for row in rows] == ["", "Severity: Severe; Site: chest", "Lab value: 7.2 g/dL",
                                         "Dosage: 500 mg; Route: orally"]
    assert "".join(s for s, _ in segments) == TEXT
    assert [(s, label) for s, label in segments if label][:4] == [
        ("Severe", "SEVERITY"), ("chest", "BODY_PART"), ("pain", "SYMPTOM"), ("Hemoglobin", "TEST")]
    assert ("7 days", "DURATION") in segments
    assert message == "4 entities, 5 attributes."
