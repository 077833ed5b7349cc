"""Faster CPU arithmetic (med_ner.inference.ops): thinc's matrix products in
torch, and torch dynamic int8 of the transformer's linear layers."""
import numpy
import pytest
import spacy

from med_ner.inference.ops import TorchMatmulOps, quantize_int8
from med_ner.inference.transformer import inference_config

TEXT = "She was suffering from malaria and fits, so she used amodiaquine; she has fever and pain on the hip."


@pytest.fixture(scope="module")
def trained(tiny_trained_pipeline):
    return tiny_trained_pipeline


def test_torch_matmul_ops_multiply_as_numpy_does():
    from thinc.api import NumpyOps

    ops, reference = TorchMatmulOps(), NumpyOps()
    rng = numpy.random.default_rng(0)
    x, y = rng.random((7, 5), dtype="float32"), rng.random((5, 3), dtype="float32")
    x.flags.writeable = False  # as weights loaded from disk are
    for trans1, trans2 in [(False, False), (True, False), (False, True), (True, True)]:
        a = numpy.ascontiguousarray(x.T) if trans1 else x
        b = numpy.ascontiguousarray(y.T) if trans2 else y
        expected = reference.gemm(a, b, trans1=trans1, trans2=trans2)
        assert numpy.allclose(ops.gemm(a, b, trans1=trans1, trans2=trans2), expected, atol=1e-6)
        out = numpy.zeros_like(expected)
        assert ops.gemm(a, b, out=out, trans1=trans1, trans2=trans2) is out
        assert numpy.allclose(out, expected, atol=1e-6)
    doubles = ops.gemm(x.astype("float64"), y.astype("float64"))  # not float32: NumPy's dot
    assert doubles.dtype == numpy.float64 and numpy.allclose(doubles, x @ y)

def test_inference_options_run_the_ner_matmuls_in_torch_with_the_same_entities(trained):
    """inference_config names en_med_ner.torch_matmul.v1 as the pipeline's
    after_pipeline_creation callback: every NumpyOps model then has
    TorchMatmulOps, and the NER finds what it finds with thinc's BLIS."""
    from thinc.api import NumpyOps

    def ops_of(nlp):
        return {type(node.ops) for _, component in nlp.components
                if hasattr(getattr(component, "model", None), "walk") for node in component.model.walk()}

    plain = spacy.load(trained)
    fast = spacy.load(trained, config=inference_config("float32"))
    assert ops_of(plain) == {NumpyOps} and ops_of(fast) == {TorchMatmulOps}
    texts = [TEXT, "malaria and fever", TEXT + " " + TEXT]
    ents = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in plain.pipe(texts)]
    assert [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in fast.pipe(texts)] == ents
    assert any(ents)  # the tiny pipeline finds something, so the comparison could fail
    # torch_matmul=False: no callback, thinc's BLIS stays
    assert ops_of(spacy.load(trained, config=inference_config("float32", torch_matmul=False))) == {NumpyOps}


def test_quantize_int8_keeps_residual_projections_float(tiny_transformer):
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(tiny_transformer))
    quantized = dict(quantize_int8(model).named_modules())
    for name, layer in model.named_modules():
        if isinstance(layer, torch.nn.Linear):
            is_float = type(quantized[name]) is torch.nn.Linear
            assert is_float == name.endswith("output.dense"), name
    # The source module is untouched (it keeps training and saving in float32).
    assert all(type(layer) is torch.nn.Linear for layer in model.modules() if isinstance(layer, torch.nn.Linear))
