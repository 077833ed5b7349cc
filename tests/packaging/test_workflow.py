"""The real workflow, end to end, with a tiny transformer the test builds:
convert -> train a few steps -> evaluate -> package -> install the wheel ->
spacy.load it by name -> same test scores."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import srsly
import spacy

from conftest import ROOT

VERSION = "0.1.0"
PROJECT_FILES = ["project.yml", "pyproject.toml", "requirements.txt", "README.md", "src", "configs", "assets/sample", "assets/labels", "assets/splits"]


def copy_project(dest: Path) -> Path:
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest / name)
    return dest


def run_project(project: Path, command: str, *overrides: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", command, str(project), *overrides],
        capture_output=True, text=True, cwd=str(project), env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout


@pytest.mark.slow
def test_run_all_with_tiny_transformer(tmp_path, tiny_transformer):
    project = copy_project(tmp_path / "project")
    budgets = tmp_path / "budgets.yml"
    budgets.write_text("sample: {max_steps: 6, warmup_steps: 2, eval_frequency: 3}\n", encoding="utf-8")
    overrides = ["--vars.transformer", str(tiny_transformer), "--vars.budgets", str(budgets)]
    out = run_project(project, "all", *overrides)

    metrics = srsly.read_json(project / "metrics/sample/test.json")
    assert metrics["split"] == "test" and metrics["documents"] == 21
    labels = {"DISEASE", "SYMPTOM", "DRUG", "BODY_PART", "TEST", "PROCEDURE"}
    assert set(metrics["ents_per_type"]) == labels
    assert sum(s["support"] for s in metrics["ents_per_type"].values()) == metrics["entities"] > 0
    report = (project / "metrics/sample/test.md").read_text()
    assert all(f"| {label} |" in report for label in labels) and "| **all (micro)** |" in report
    assert "| partial boundary |" in report and "95% bootstrap interval" in report and "errors.html" in report
    lo, hi = metrics["ents_f_ci95"]
    assert lo <= metrics["ents_f"] <= hi
    strict = metrics["partial_match"]["overall"]["strict"]
    assert strict["correct"] + strict["incorrect"] + strict["partial"] + strict["missed"] == metrics["entities"]
    # Task A credits a partial match half, so it lies between exact F1 and a score that counts partials whole.
    half = metrics["half_partial"]
    assert half["correct"] + half["incorrect"] + half["partial"] + half["missing"] == metrics["entities"]
    assert metrics["ents_f"] <= half["f"] + 1e-9 and "eHealth-KD Task A score" in report
    # The evaluate step splits recall by whether a mention's text was a training mention.
    assert metrics["mentions_seen"] + metrics["mentions_unseen"] == metrics["entities"]
    assert metrics["mentions_seen"] > 0 and metrics["mentions_unseen"] > 0
    assert "whose lowercased text is a training mention" in (project / "metrics/sample/test.md").read_text()

    # model-final (and so the wheel) predicts with the release CPU runtime, and its test scores are that runtime's.
    from med_ner.inference.transformer import RELEASE_INFERENCE, RELEASE_INFERENCE_WINDOW

    final = spacy.util.load_config(project / "training/sample/model-final/config.cfg")
    assert final["components"]["transformer"]["model"]["inference"] == RELEASE_INFERENCE == "onnx-int8"
    spans = final["components"]["transformer"]["model"]["inference_spans"]
    assert (spans or {}).get("window", 0) == RELEASE_INFERENCE_WINDOW
    assert list(Path(os.environ["MED_NER_CACHE"]).rglob("*-int8.onnx")), "evaluate ran the ONNX export"

    wheel = project / f"packages/en_med_ner-{VERSION}/dist/en_med_ner-{VERSION}-py3-none-any.whl"
    assert wheel.exists()
    assert "reproduces the test scores" in out
    package_metrics = srsly.read_json(project / "metrics/sample/package_test.json")
    assert package_metrics["pipeline"] == f"en_med_ner-{VERSION}"
    for key in ("ents_p", "ents_r", "ents_f", "ents_per_type"):
        assert package_metrics[key] == metrics[key]

    # The installed wheel loads by name in a clean process, offline, and carries test scores in its meta.
    probe = (
        "import json, spacy; nlp = spacy.load('en_med_ner'); "
        "doc = nlp.make_doc('The patient denies fever.'); "
        "doc.ents = [doc.char_span(19, 24, label='SYMPTOM')]; doc = nlp.get_pipe('clinical_context')(doc); "
        "doc = nlp.get_pipe('terminology_linker')(doc); "
        "print(json.dumps({'meta': nlp.meta, 'pipe': nlp.pipe_names, 'file': spacy.util.get_package_path('en_med_ner').as_posix(), "
        "'negated': doc.ents[0]._.is_negated, 'cues': doc.ents[0]._.context_cues, "
        "'kb_id': doc.ents[0].kb_id_, 'canonical': doc.ents[0]._.canonical_name}))"
    )
    env = dict(os.environ, PYTHONPATH=str(project / "packages/installed"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    release_pipe = ["split_tokens", "transformer", "ner", "entity_confidence", "trim_entities", "analyte_labels",
                    "clinical_context", "terminology_matcher", "terminology_linker"]
    assert loaded["pipe"] == release_pipe
    # The negation component ships in the wheel with its trigger list (rules only: the sample has no polarity).
    assert loaded["negated"] is True and loaded["cues"] == ["negation<denies"]
    # So does the term table (`vocab` step, link_terms): a SYMPTOM links to its HPO entry offline.
    assert loaded["kb_id"] == "HP:0001945" and loaded["canonical"] == "Fever"
    assert loaded["file"].startswith((project / "packages/installed").as_posix())
    assert loaded["meta"]["performance"]["ents_f"] == pytest.approx(metrics["ents_f"])
    assert loaded["meta"]["evaluation"]["split"] == "test"
    assert set(loaded["meta"]["labels"]["ner"]) == labels
    reqs = " ".join(loaded["meta"]["requirements"])
    assert "spacy-transformers" in reqs and "transformers>=" in reqs and "torch>=" in reqs
    # The trained config names the transformer, never a path of the build machine.
    cfg = (project / f"packages/installed/en_med_ner/en_med_ner-{VERSION}/config.cfg").read_text()
    assert "@misc = \"en_med_ner.transformer_name.v1\"" in cfg

    # The installed wheel loads next to the project's own code in one process (the
    # wheel ships no copy of the registered code, so no E004 "factory already exists").
    both = dict(env, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(project / "packages/installed")]))
    mixed = (
        "import json, spacy, med_ner.components.clinical_context, med_ner.inference.transformer; "
        "from med_ner.inference.loading import load_pipeline; "
        "nlp = load_pipeline('en_med_ner', code=sys.argv[1]); "
        "print(json.dumps({'lib': med_ner.components.clinical_context.__file__, 'model': spacy.util.get_package_path('en_med_ner').as_posix(), "
        "'pipe': nlp.pipe_names}))"
    )
    proc = subprocess.run([sys.executable, "-c", "import sys; " + mixed, str(ROOT / "tests" / "slow_component.py")],
                          capture_output=True, text=True, env=both, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    mixed_out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert mixed_out["lib"].startswith(str(ROOT / "src"))
    assert mixed_out["model"].startswith((project / "packages/installed").as_posix())
    assert mixed_out["pipe"] == release_pipe
    proc = subprocess.run([sys.executable, "-m", "med_ner", "predict", "She denies chest pain.", "--model", "en_med_ner",
                           "--json"], capture_output=True, text=True, env=both, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["text"] == "She denies chest pain."
    # The wheel's entity_confidence, calibrated on dev, scores every entity; the report has its calibration.
    assert metrics["calibration"]["entities"] > 0 and 0.0 <= metrics["calibration"]["ece"] <= 1.0
    assert (project / "metrics/sample/test.reliability.png").exists() and "| threshold |" in report
    assert package_metrics["calibration"]["ece"] == metrics["calibration"]["ece"]
    # Both wheels that `library` and `package` leave in packages/ are what a fresh environment installs.
    assert (project / "packages/med_ner-0.1.0-py3-none-any.whl").exists()
    assert (project / "packages/installed/med_ner/components/clinical_context.py").exists()
    assert not list((project / f"packages/installed/en_med_ner/en_med_ner-{VERSION}").glob("*.py"))
    assert "med-ner==0.1.0" in reqs

    # A second run finds everything up to date.
    again = run_project(project, "all", *overrides)
    for step in ("vocab", "convert", "train", "context", "confidence", "evaluate", "library", "package",
                 "evaluate-package"):
        assert f"Skipping '{step}': nothing changed" in again

    # predict and visualize run on the trained pipeline.
    run_project(project, "visualize", *overrides)
    errors_html = (project / "visualize/sample/errors.html").read_text()
    assert "documents have errors" in errors_html
