"""The service's request and response bodies (they make the OpenAPI schema at
/docs), and the turning of a raw body into a request with messages that name
the field at fault."""
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from pydantic import (BaseModel, ConfigDict, Field, PlainValidator, StrictStr, ValidationError, WithJsonSchema,
                      field_validator, model_validator)
from typing_extensions import Annotated


class ApiError(Exception):
    """An answer other than 200: HTTP status, a message for the client, extra headers."""

    def __init__(self, status: int, message: str, headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def document_id(value: Any) -> Union[str, int]:
    # bool is an int to Python, but an id of `true` is a client's mistake.
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return value
    raise ValueError(f"an id is a string or an integer, not {type(value).__name__ if value is not None else 'null'}")


DocumentId = Annotated[Union[str, int], PlainValidator(document_id),
                       WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}]})]


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: DocumentId
    text: StrictStr


class EntitiesRequest(BaseModel):
    """Exactly one of `text`, `texts` or `documents`."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "The patient denies chest pain."},
        {"texts": ["Metformin was started.", "No fever."]},
        {"documents": [{"id": "note-1", "text": "CT of the abdomen showed appendicitis."}]},
    ]})
    text: Optional[StrictStr] = None
    texts: Optional[List[StrictStr]] = Field(None, min_length=1)
    documents: Optional[List[DocumentIn]] = Field(None, min_length=1)

    @field_validator("documents")
    @classmethod
    def unique_ids(cls, documents: Optional[List[DocumentIn]]) -> Optional[List[DocumentIn]]:
        first: Dict[Union[str, int], int] = {}
        for index, document in enumerate(documents or []):
            if document.id in first:
                raise ValueError(f"documents[{index}].id {document.id!r} repeats documents[{first[document.id]}].id")
            first[document.id] = index
        return documents

    @model_validator(mode="after")
    def one_form(self) -> "EntitiesRequest":
        given = [name for name in ("text", "texts", "documents") if getattr(self, name) is not None]
        if len(given) != 1:
            both = f", not {' and '.join(given)}" if given else ""
            raise ValueError(f"give exactly one of text, texts or documents{both}")
        return self

    def fields(self) -> Tuple[List[Union[str, int]], List[str], List[str]]:
        """Ids, texts and each text's field name (for messages), in input order.
        A text without an id gets its position."""
        if self.text is not None:
            return [0], [self.text], ["text"]
        if self.texts is not None:
            return list(range(len(self.texts))), self.texts, [f"texts[{i}]" for i in range(len(self.texts))]
        docs = self.documents or []
        return [d.id for d in docs], [d.text for d in docs], [f"documents[{i}].text" for i in range(len(docs))]


def entities_request_schema(max_texts: int, max_chars_per_text: int, max_chars_per_request: int,
                            max_body_bytes: int) -> Dict[str, Dict[str, Any]]:
    """The OpenAPI schemas of POST /v1/entities' body: what EntitiesRequest and
    Service.check_limits accept, with the service's limits. One schema per form
    (oneOf), so a body with two forms is outside it; the other two fields may be
    null, as the service reads null as absent. Document ids are unique: JSON Schema
    has no keyword for unique by property, so `x-unique-item-properties` says it
    (and `uniqueItems` the part JSON Schema can say). Returned: name -> schema."""
    ref = "#/components/schemas/{}".format
    text = {"type": "string", "maxLength": max_chars_per_text}
    absent = {"type": "null"}
    forms = {
        "TextRequest": ("text", text),
        "TextsRequest": ("texts", {"type": "array", "items": text, "minItems": 1, "maxItems": max_texts}),
        "DocumentsRequest": ("documents", {
            "type": "array", "items": {"$ref": ref("DocumentIn")}, "minItems": 1, "maxItems": max_texts,
            "uniqueItems": True, "x-unique-item-properties": ["id"],
            "description": "documents whose ids are unique (a repeated id gets 422)"}),
    }
    schemas: Dict[str, Dict[str, Any]] = {}
    for name, (field, schema) in forms.items():
        schemas[name] = {"title": name, "type": "object", "additionalProperties": False, "required": [field],
                         "properties": {other: (schema if other == field else absent)
                                        for other in ("text", "texts", "documents")}}
    schemas["DocumentIn"] = {"title": "DocumentIn", "type": "object", "additionalProperties": False,
                             "required": ["id", "text"],
                             "properties": {"id": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                                            "text": text}}
    schemas["EntitiesRequest"] = {
        "title": "EntitiesRequest",
        "description": f"Exactly one of `text`, `texts` or `documents` (ids unique). Limits: {max_texts:,} texts, "
                       f"{max_chars_per_text:,} characters a text, {max_chars_per_request:,} characters in all "
                       f"and {max_body_bytes:,} bytes a body (413 over any of them).",
        "oneOf": [{"$ref": ref(name)} for name in forms],
        "examples": EntitiesRequest.model_config["json_schema_extra"]["examples"]}
    return schemas


class LinkedAttribute(BaseModel):
    """An attribute an attribute linker attached to the entity."""
    type: str = Field(description="the attribute's type: LAB_VALUE, DOSAGE, ROUTE, SEVERITY, FREQUENCY or "
                                  "DURATION, or SITE for a BODY_PART entity that modifies this entity")
    text: str = Field(description="the attribute's text")
    start: int = Field(description="character offset of its start in the text")
    end: int = Field(description="character offset of its end in the text")
    score: float = Field(ge=0, le=1, description="probability of the link")


class AttributeHead(BaseModel):
    """The entity an attribute modifies."""
    start: int = Field(description="character offset of the entity's start")
    end: int = Field(description="character offset of the entity's end")
    label: str = Field(description="the entity's label")


class Attribute(BaseModel):
    """An attribute mention the pipeline found, linked to an entity or not."""
    start: int = Field(description="character offset of its start in the text")
    end: int = Field(description="character offset of its end in the text")
    label: str = Field(description="LAB_VALUE, DOSAGE, ROUTE, SEVERITY, FREQUENCY or DURATION")
    text: str = Field(description="the attribute's text")
    score: Optional[float] = Field(None, ge=0, le=1, description="the span's score, where the pipeline gives one")
    head: Optional[AttributeHead] = Field(description="the entity it modifies; null when it is not linked")


class Entity(BaseModel):
    """One entity, as med_ner.prediction.records.entity_record makes it: character offsets into
    the text; confidence where the pipeline has entity_confidence; negated/uncertain
    where it has clinical_context; id where a component linked the entity; attributes
    where the pipeline links attributes to entities."""
    start: int
    end: int
    label: str
    text: str
    confidence: Optional[float] = Field(None, ge=0, le=1, description="calibrated probability that this exact "
                                        "span with this label is correct")
    negated: Optional[bool] = None
    uncertain: Optional[bool] = None
    id: Optional[str] = None
    attributes: Optional[List[LinkedAttribute]] = Field(None, description="values, doses, routes, severity, "
                                                        "frequency, duration and sites that describe this entity "
                                                        "(absent when the pipeline does not link attributes)")


class DocumentOut(BaseModel):
    id: DocumentId
    entities: List[Entity]
    attributes: Optional[List[Attribute]] = Field(None, description="every attribute mention in the text, linked "
                                                  "or not (absent when the pipeline does not find attributes)")


class EntitiesResponse(BaseModel):
    model: str
    documents: List[DocumentOut]


class ErrorResponse(BaseModel):
    error: str


class Status(BaseModel):
    status: str
    detail: Optional[str] = None


class ModelInfo(BaseModel):
    name: str
    version: str
    spacy_version: str
    pipeline: List[str]
    labels: List[str]
    performance: Dict[str, Any] = Field(description="scores in the package meta: the test split's for en_med_ner")
    evaluation: Optional[Dict[str, Any]] = Field(None, description="which split and data the scores come from")
    inference: Dict[str, Any]


def field_name(loc: Sequence[Union[str, int]]) -> str:
    """("documents", 0, "id") -> "documents[0].id"; the body itself -> "body"."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def validation_message(err: ValidationError, shown: int = 5) -> str:
    # include_input=False: an error must not echo the submitted text back.
    problems = [f"{field_name(e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                for e in err.errors(include_url=False, include_input=False, include_context=False)]
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    return "; ".join(problems[:shown]) + more


def parse_entities_request(body: bytes) -> EntitiesRequest:
    """Raw body -> EntitiesRequest, or ApiError (400 for bytes that are not
    JSON, 422 for JSON of the wrong shape) with a message naming the field."""
    if not body.strip():
        raise ApiError(400, "the request body is empty: send a JSON object with text, texts or documents")
    try:
        raw = body.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ApiError(400, f"the request body is not UTF-8: byte 0x{body[err.start]:02x} at offset "
                            f"{err.start}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ApiError(400, f"the request body is not JSON: {err.msg} at line {err.lineno}, "
                            f"column {err.colno}") from None
    except (ValueError, RecursionError) as err:  # an integer of 4,300+ digits; nesting deeper than the parser goes
        raise ApiError(400, f"the request body is not JSON this service reads: {type(err).__name__}") from None
    if not isinstance(data, dict):
        raise ApiError(422, f"body: a JSON object with text, texts or documents, not {json_type(data)}")
    try:
        return EntitiesRequest.model_validate(data)
    except ValidationError as err:
        raise ApiError(422, validation_message(err)) from None


def json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)
