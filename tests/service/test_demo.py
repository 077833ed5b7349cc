"""The Gradio demo, end to end in headless Chromium: the test serves the app on
a free loopback port, types text, and reads the highlighted entities back."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import spacy

from med_ner.components import clinical_context
from med_ner.service import demo
from conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))
MAX_CHARS = 300


def ruler_context_pipeline(path: Path) -> Path:
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(
        [{"label": "DISEASE", "pattern": [{"LOWER": "malaria"}]}, {"label": "DRUG", "pattern": "amodiaquine"},
         {"label": "SYMPTOM", "pattern": "fever"}, {"label": "SYMPTOM", "pattern": "chest pain"},
         {"label": "BODY_PART", "pattern": "hip"}])
    nlp.add_pipe("clinical_context", config={"use_model": False}).initialize(
        lambda: [], nlp=nlp, triggers=str(clinical_context.default_triggers("en")))
    nlp.to_disk(path)
    return path


def test_analyse_segments_rows_and_limits(tmp_path):
    nlp = spacy.load(ruler_context_pipeline(tmp_path / "pipeline"))
    text = "She denies chest pain but has fever."
    segments, rows, message = demo.analyse(nlp, text, MAX_CHARS)
    assert "".join(s for s, _ in segments) == text
    assert [(s, label) for s, label in segments if label] == [("chest pain", "SYMPTOM (negated)"), ("fever", "SYMPTOM")]
    # The attributes column (after uncertain) is empty: this pipeline links none.
    assert rows == [["chest pain", "SYMPTOM", 11, 21, "", "true", "false", "", "", ""],
                    ["fever", "SYMPTOM", 30, 35, "", "false", "false", "", "", ""]]
    assert message == "2 entities."
    assert demo.analyse(nlp, "x" * (MAX_CHARS + 1), MAX_CHARS)[2].startswith("The text has 301 characters")
    assert demo.analyse(nlp, "   ", MAX_CHARS)[:2] == ([], [])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    pipeline = ruler_context_pipeline(tmp_path_factory.mktemp("demo") / "pipeline")
    port = free_port()
    log = tmp_path_factory.mktemp("demo-log") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "med_ner", "demo", "--model", str(pipeline), "--port", str(port),
             "--max-chars", str(MAX_CHARS)],
            stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=5)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"demo did not start: {log.read_text()[-3000:]}")
            time.sleep(1)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def page(demo_server):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.goto(demo_server, wait_until="domcontentloaded")
        page.wait_for_selector("#input-text textarea", timeout=60000)
        yield page
        browser.close()


def submit(page, text: str) -> None:
    page.fill("#input-text textarea", text)
    page.click("#submit")


@pytest.mark.browser
def test_browser_highlights_entities_and_flags(page):
    submit(page, demo.EXAMPLES[0] + ". She denies chest pain.")
    page.wait_for_function("document.querySelector('#status') && document.querySelector('#status').innerText.includes('entities')",
                           timeout=60000)
    highlighted = page.inner_text("#highlighted")
    for word in ("Malaria", "amodiaquine", "fever", "hip", "chest pain"):
        assert word in highlighted
    assert "SYMPTOM (negated)" in highlighted
    assert "5 entities." in page.inner_text("#status")
    table = page.inner_text("#entity-table")
    assert "amodiaquine" in table and "DRUG" in table and "true" in table
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
    assert (ARTIFACTS / "demo.png").stat().st_size > 10000


@pytest.mark.browser
def test_browser_shows_markup_as_text(page):
    hostile = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> malaria'
    submit(page, hostile)
    page.wait_for_function("document.querySelector('#highlighted') && "
                           "document.querySelector('#highlighted').innerText.includes('<script>')", timeout=60000)
    assert page.evaluate("window.__xss") is None
    assert "malaria" in page.inner_text("#highlighted")


@pytest.mark.browser
def test_browser_rejects_oversized_input(page):
    submit(page, "fever " * 100)
    page.wait_for_function("document.querySelector('#status').innerText.includes('at most')", timeout=60000)
    assert "this demo takes at most 300" in page.inner_text("#status")
