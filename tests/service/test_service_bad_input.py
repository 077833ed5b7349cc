"""Every bad input tried on POST /v1/entities and the answer it gets: the same
table is in docs/usage.md ("Errors"), and a test checks the two agree
(`python tests/service/test_service_bad_input.py --write` rewrites it).
Nothing submitted reaches the log, and the service serves on afterwards."""
import json
import logging
from typing import NamedTuple, Optional

import httpx
import pytest
from service_helpers import ROOT, ServerThread, ruler_pipeline

from med_ner.service import ServiceSettings

LIMITS = dict(max_chars_per_text=1000, max_chars_per_request=3000, max_texts_per_request=10, max_body_bytes=20_000)
PHI = "Zebrafish-Jones MRN 0042"  # a marker standing for patient data


class Case(NamedTuple):
    what: str
    body: bytes
    status: int
    answer: str  # the error message, or for a 200 what the response holds
    content_type: Optional[str] = "application/json"
    method: str = "POST"
    path: str = "/v1/entities"


def text_body(text: str) -> bytes:
    return json.dumps({"text": text}).encode()


CASES = [
    Case("empty body", b"", 400, "the request body is empty: send a JSON object with text, texts or documents"),
    Case("broken JSON `{\"text\": `", b'{"text": ', 400, "the request body is not JSON: Expecting value at line 1, column 10"),
    Case("Latin-1 bytes, not UTF-8 (`caf\\xe9`)", b'{"text": "caf\xe9"}', 400,
         "the request body is not UTF-8: byte 0xe9 at offset 13"),
    Case("JSON nested 10,000 deep", b"[" * 10_000, 400, "the request body is not JSON this service reads: RecursionError"),
    Case("an integer of 5,000 digits", b'{"text": ' + b"9" * 5000 + b"}", 400,
         "the request body is not JSON this service reads: ValueError"),
    Case("a JSON array, not an object", b'["No fever."]', 422,
         "body: a JSON object with text, texts or documents, not an array"),
    Case("a JSON string", b'"No fever."', 422, "body: a JSON object with text, texts or documents, not a string"),
    Case("`{}`", b"{}", 422, "body: give exactly one of text, texts or documents"),
    Case("`text` and `texts` together", b'{"text": "a", "texts": ["b"]}', 422,
         "body: give exactly one of text, texts or documents, not text and texts"),
    Case("`text` null", b'{"text": null}', 422, "body: give exactly one of text, texts or documents"),
    Case("`text` a number", b'{"text": 42}', 422, "text: Input should be a valid string"),
    Case("`text` an object", b'{"text": {"value": "No fever."}}', 422, "text: Input should be a valid string"),
    Case("`texts` a string", b'{"texts": "No fever."}', 422, "texts: Input should be a valid list"),
    Case("`texts` empty", b'{"texts": []}', 422, "texts: List should have at least 1 item after validation, not 0"),
    Case("`texts` with a null", b'{"texts": ["No fever.", null]}', 422, "texts[1]: Input should be a valid string"),
    Case("`documents` empty", b'{"documents": []}', 422,
         "documents: List should have at least 1 item after validation, not 0"),
    Case("a document without `text`", b'{"documents": [{"id": "a"}]}', 422, "documents[0].text: Field required"),
    Case("a document without `id`", b'{"documents": [{"text": "No fever."}]}', 422, "documents[0].id: Field required"),
    Case("a document id `true`", b'{"documents": [{"id": true, "text": "a"}]}', 422,
         "documents[0].id: an id is a string or an integer, not bool"),
    Case("a document id that is a list", b'{"documents": [{"id": [1], "text": "a"}]}', 422,
         "documents[0].id: an id is a string or an integer, not list"),
    Case("two documents with one id", b'{"documents": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}', 422,
         "documents: documents[1].id 'a' repeats documents[0].id"),
    Case("a misspelt field `txt`", b'{"txt": "No fever."}', 422, "txt: Extra inputs are not permitted"),
    Case("an unknown document field", b'{"documents": [{"id": 1, "text": "a", "note": "b"}]}', 422,
         "documents[0].note: Extra inputs are not permitted"),
    Case("a lone surrogate `\\ud83d`", b'{"text": "pain \\ud83d"}', 422,
         "text: not Unicode text: a lone surrogate (U+D83D) at character 5"),
    Case("a text of 1,001 characters (limit 1,000)", text_body("x" * 1001), 413,
         "text: 1,001 characters, over max_chars_per_text (1,000)"),
    Case("11 texts (limit 10)", b'{"texts": [' + b",".join([b'"a"'] * 11) + b"]}", 413,
         "texts: 11 texts, over max_texts_per_request (10)"),
    Case("4 texts of 900 characters (limit 3,000 a request)",
         b'{"texts": [' + b",".join([b'"' + b"y" * 900 + b'"'] * 4) + b"]}", 413,
         "body: 3,600 characters in all, over max_chars_per_request (3,000)"),
    Case("a body of 20,001 bytes (limit 20,000)", b" " * 20_001, 413, "body: 20,001 bytes, over max_body_bytes (20,000)"),
    Case("Content-Type text/plain", b'{"text": "No fever."}', 415, "Content-Type: text/plain; send application/json",
         content_type="text/plain"),
    Case("GET instead of POST", b"", 405, "Method Not Allowed", method="GET"),
    Case("an unknown path", b"{}", 404, "Not Found", path="/v1/entity"),
    # Accepted: not errors, but inputs a client may not expect to work.
    Case("no Content-Type header", b'{"text": "No fever."}', 200, "entities", content_type=None),
    Case("a UTF-8 byte-order mark before the JSON", b'\xef\xbb\xbf{"text": "No fever."}', 200, "entities"),
    Case("an empty text", b'{"text": ""}', 200, "no entities"),
    Case("NUL and control characters", b'{"text": "fever\\u0000\\u0007 and cough"}', 200, "entities"),
    Case("HTML and script tags", b'{"text": "<script>alert(1)</script> fever"}', 200,
         "entities; the text comes back as a JSON string, never run"),
    Case("emoji before an entity", '{"text": "🤒 fever"}'.encode(), 200,
         "entities, offsets in Unicode code points (fever: 2-7)"),
]


def docs_table() -> str:
    rows = ["| bad input | status | answer |", "|---|---:|---|"]
    for case in CASES:
        answer = case.answer if case.status == 200 else f'`{{"error": "{case.answer}"}}`'
        rows.append(f"| {case.what} | {case.status} | {answer.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pipeline = ruler_pipeline(tmp_path_factory.mktemp("bad-input") / "pipeline")
    with ServerThread(ServiceSettings(model=str(pipeline), **LIMITS)) as running:
        yield running


def send(url: str, case: Case) -> httpx.Response:
    headers = {"content-type": case.content_type} if case.content_type else {}
    with httpx.Client(timeout=60) as http:
        request = http.build_request(case.method, url + case.path, content=case.body or None, headers=headers)
        if case.content_type is None:
            request.headers.pop("content-type", None)
        return http.send(request)


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_bad_input(server, case):
    response = send(server.url, case)
    assert response.status_code == case.status, response.text
    if case.status != 200:
        assert response.json() == {"error": case.answer}
    else:
        [document] = response.json()["documents"]
        assert (document["entities"] == []) == (case.answer == "no entities")


def test_emoji_offsets_are_code_points(server):
    [document] = send(server.url, CASES[-1]).json()["documents"]
    assert [(e["start"], e["end"], e["text"]) for e in document["entities"]] == [(2, 7, "fever")]


def test_body_over_the_limit_without_content_length(server):
    def chunks():
        for _ in range(30):
            yield b" " * 1000

    response = httpx.post(f"{server.url}/v1/entities", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"error": "body: over max_body_bytes (20,000)"}


def test_still_serving_after_every_bad_input(server):
    for case in CASES:
        send(server.url, case)
    assert server.thread.is_alive()
    response = httpx.post(f"{server.url}/v1/entities", json={"text": "She denies chest pain."})
    assert response.status_code == 200 and response.json()["documents"][0]["entities"]


def test_submitted_text_is_never_logged(server, caplog):
    caplog.set_level(logging.DEBUG)
    bodies = [{"text": PHI}, {"texts": [PHI, 3]}, {"text": PHI + "x" * 1000}, {"documents": [{"id": PHI, "text": 1}]},
              {"text": PHI + "\ud800"}]
    for body in bodies:
        httpx.post(f"{server.url}/v1/entities", content=json.dumps(body).encode())
    assert caplog.records, "nothing was logged at debug level"
    assert not [r for r in caplog.records if "Zebrafish" in r.getMessage()]


DOCS_PAGE = ROOT / "docs" / "usage.md"
START, END = "<!-- service-errors:start -->", "<!-- service-errors:end -->"


def test_docs_list_every_bad_input():
    section = DOCS_PAGE.read_text(encoding="utf-8").split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    assert section == docs_table(), "docs/usage.md's bad-input table is stale: python tests/service/test_service_bad_input.py --write"


def write_docs() -> None:
    head, rest = DOCS_PAGE.read_text(encoding="utf-8").split(START, 1)
    DOCS_PAGE.write_text(f"{head}{START}\n{docs_table()}{END}{rest.split(END, 1)[1]}", encoding="utf-8")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write"]:
        write_docs()
    else:
        print(docs_table(), end="")
