"""The transformer's options: int8 CPU inference (`cpu_int8`) and the split
learning rate of the training config's optimizer."""
import subprocess
import sys

import numpy
import pytest
import spacy

from conftest import ROOT
from med_ner.inference.transformer import CPU_INT8 as INT8
from med_ner.training.optimizer import split_rate_adam


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_transformer):
    """configs/ner_transformer.cfg trained briefly on the sample with the tiny BERT."""
    corpus = tmp_path_factory.mktemp("corpus")
    subprocess.run([sys.executable, "-m", "med_ner", "convert", "corpus", "sample", "--output", str(corpus)],
                   check=True, capture_output=True, cwd=str(ROOT))
    out = tmp_path_factory.mktemp("model")
    proc = subprocess.run(
        [sys.executable, "-m", "med_ner", "train", str(ROOT / "configs/ner_transformer.cfg"), "--output", str(out),
         "--paths.train", str(corpus / "train.spacy"), "--paths.dev", str(corpus / "dev.spacy"),
         "--paths.transformer", str(tiny_transformer), "--training.max_steps", "8", "--training.eval_frequency", "4",
         "--training.optimizer.learn_rate.warmup_steps", "2"],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out / "model-last"


TEXT = "She was suffering from malaria and fits, so she used amodiaquine; she has fever and pain on the hip."


def hidden(nlp, text=TEXT):
    return nlp(text)._.trf_data.tensors[0]


def test_int8_option_is_honoured_by_spacy_load_and_stays_near(trained):
    fp32 = spacy.load(trained)
    int8 = spacy.load(trained, config=INT8)
    assert not fp32.config["components"]["transformer"]["model"]["cpu_int8"]
    assert int8.config["components"]["transformer"]["model"]["cpu_int8"]
    exact, quantized = hidden(fp32), hidden(int8)
    assert exact.shape == quantized.shape
    # Quantized: not bit-identical (so the option took effect), but close.
    assert not numpy.array_equal(exact, quantized)
    scale = numpy.abs(exact).mean()
    assert numpy.abs(exact - quantized).mean() < 0.05 * scale
    # Batches through nlp.pipe give the same output as single calls.
    assert numpy.allclose(hidden(int8), next(int8.pipe([TEXT]))._.trf_data.tensors[0], atol=1e-5)


def test_int8_pipeline_saves_float_weights(trained, tmp_path):
    """Predicting with int8 must not leak quantized weights into what is saved."""
    int8 = spacy.load(trained, config=INT8)
    hidden(int8)
    int8.to_disk(tmp_path / "saved")
    reloaded = spacy.load(tmp_path / "saved", config={"components.transformer.model.cpu_int8": False})
    assert numpy.array_equal(hidden(reloaded), hidden(spacy.load(trained)))


def test_int8_copy_is_rebuilt_after_training(trained):
    """An update changes the float weights; the next prediction must use them."""
    from spacy.training import Example
    from thinc.api import Adam

    nlp = spacy.load(trained, config=INT8)
    before = hidden(nlp)
    doc = nlp.make_doc(TEXT)
    example = Example.from_dict(doc, {"entities": [(23, 30, "DISEASE")]})
    optimizer = Adam(0.01)
    for _ in range(3):
        nlp.update([example], sgd=optimizer)
    assert not numpy.allclose(before, hidden(nlp))


def test_predict_cli_int8_on_a_pipeline_trained_with_spacy_transformers_v3(trained, tmp_path):
    """Pipelines whose config names TransformerModel.v3 get the option too."""
    import shutil

    old = tmp_path / "v3"
    shutil.copytree(trained, old)
    cfg = (old / "config.cfg").read_text(encoding="utf-8")
    cfg = cfg.replace('"en_med_ner.TransformerModel.v1"', '"spacy-transformers.TransformerModel.v3"').replace(
        "cpu_int8 = false\n", "").replace('inference = "float32"\n', "").replace("inference_spans = null\n", "")
    (old / "config.cfg").write_text(cfg, encoding="utf-8")
    assert spacy.load(old).config["components"]["transformer"]["model"]["@architectures"].endswith(".v3")
    outputs = []
    for flags in ([], ["--inference", "int8"]):
        proc = subprocess.run([sys.executable, "-m", "med_ner", "predict", TEXT, "--model", str(old), "--json", *flags],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs.append(proc.stdout)
    assert all(out.startswith("{") for out in outputs)
    int8 = spacy.load(old, config=INT8)
    assert int8.config["components"]["transformer"]["model"]["cpu_int8"]
    assert not numpy.array_equal(hidden(int8), hidden(spacy.load(old)))
    # add_context (which writes the release model-final) gives it the option by its short name.
    from med_ner.packaging.add_context import set_prediction_runtime

    exact = hidden(spacy.load(old))
    assert set_prediction_runtime(old, "float32", 0) == "float32"
    assert spacy.load(old).config["components"]["transformer"]["model"]["@architectures"] == \
        "en_med_ner.TransformerModel.v1"
    assert numpy.array_equal(hidden(spacy.load(old)), exact)
    short = spacy.load(old, config={"components.transformer.model.cpu_int8": True})
    assert numpy.allclose(hidden(short), hidden(int8), atol=1e-6)


def test_split_rate_adam_scales_only_thinc_parameters():
    optimizer = split_rate_adam(0.001, head_scale=10.0, L2=0.0, grad_clip=0.0)
    grad = numpy.ones(4, dtype="f")
    head, _ = optimizer((1, "W"), numpy.zeros(4, dtype="f"), grad.copy())
    torch_param, _ = optimizer((2, "encoder.layer.0.attention.self.query.weight"), numpy.zeros(4, dtype="f"), grad.copy())
    # Adam's first step moves each weight by about the learning rate.
    assert numpy.allclose(torch_param, -0.001, rtol=1e-3)
    assert numpy.allclose(head, -0.01, rtol=1e-3)


def test_split_rate_adam_rejects_a_non_positive_scale():
    with pytest.raises(ValueError, match="head_scale"):
        split_rate_adam(0.001, head_scale=0.0)


def test_quantize_int8_keeps_residual_projections_float(tiny_transformer):
    import torch
    from transformers import AutoModel

    from med_ner.inference.transformer import quantize_int8

    model = AutoModel.from_pretrained(str(tiny_transformer))
    quantized = dict(quantize_int8(model).named_modules())
    for name, layer in model.named_modules():
        if isinstance(layer, torch.nn.Linear):
            is_float = type(quantized[name]) is torch.nn.Linear
            assert is_float == name.endswith("output.dense"), name
    # The source module is untouched (it keeps training and saving in float32).
    assert all(type(layer) is torch.nn.Linear for layer in model.modules() if isinstance(layer, torch.nn.Linear))
