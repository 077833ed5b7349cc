"""Faster CPU arithmetic for a predicting pipeline: thinc's matrix products
in torch (TorchMatmulOps) and torch dynamic int8 of the transformer's linear
layers (quantize_int8, the "int8" runtime)."""
import warnings

from thinc.api import NumpyOps


# thinc's NumpyOps multiplies matrices with its bundled BLIS, which on these
# 2 cores took 66 ms for a 4,200 x 480 by 480 x 384 product against 12-14 ms
# for torch (8 for numpy's OpenBLAS, whose threads torch's setting would not
# govern). The NER's four products a batch were 2.1 of the BC5CDR test set's
# 28 s (profiled); in torch, onnx-int8 tagged 5,660 -> 6,206 words/s there.
class TorchMatmulOps(NumpyOps):
    """NumpyOps whose float32 matrix products run in torch (with the
    transformer's thread count); everything else stays NumPy's."""

    def __init__(self, device_type: str = "cpu", device_id: int = -1, **_):
        super().__init__(device_type, device_id, use_blis=False)  # other dtypes: NumPy's dot, not BLIS

    def gemm(self, x, y, *, out=None, trans1=False, trans2=False):
        import numpy
        import torch

        if x.dtype != numpy.float32 or y.dtype != numpy.float32 or (out is not None and (
                out.dtype != numpy.float32 or not out.flags.writeable)):
            return super().gemm(x, y, out=out, trans1=trans1, trans2=trans2)
        with warnings.catch_warnings():
            # torch warns about read-only arrays (weights loaded from disk); nothing writes to them
            warnings.simplefilter("ignore", UserWarning)
            a, b = torch.from_numpy(x), torch.from_numpy(y)
        a, b = (a.T if trans1 else a), (b.T if trans2 else b)
        if out is None:
            return torch.matmul(a, b).numpy()
        torch.matmul(a, b, out=torch.from_numpy(out))
        return out


def use_torch_matmul(nlp):
    """Give every component model that uses NumpyOps TorchMatmulOps (a CPU
    pipeline's; GPU ops are left alone). The nlp.after_pipeline_creation
    callback of inference_config, so it applies where the config says so
    (after_pipeline_creation = null leaves thinc's BLIS)."""
    from thinc.api import Model

    ops = TorchMatmulOps()
    for _, component in nlp.components:
        model = getattr(component, "model", None)
        if isinstance(model, Model):
            for node in model.walk():
                if type(node.ops) is NumpyOps:
                    node.ops = ops
    return nlp


def torch_matmul_callback():
    """en_med_ner.torch_matmul.v1, for [nlp.after_pipeline_creation]."""
    return use_torch_matmul


def quantize_int8(module):
    """An int8 dynamically quantized copy of `module`'s torch.nn.Linear layers,
    with one scale per output channel. The projections back into the residual
    stream (BERT's `attention.output.dense` and `output.dense`) stay float32:
    quantizing them too cost 1.7 F1 points on MACCROBAT test with the release
    model, while keeping them float costs about 7% of the int8 speed. Per-tensor scales
    were worse again (about 2 points on NCBI-disease test documents)."""
    import torch

    with warnings.catch_warnings():
        # torch marks eager-mode quantization as moving to torchao; it works in
        # the torch versions the package requires (< 2.14).
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        spec = {name: per_channel_dynamic_qconfig for name, layer in module.named_modules()
                if isinstance(layer, torch.nn.Linear) and not name.endswith("output.dense")}
        # inplace=False: quantize_dynamic copies the module itself
        return quantize_dynamic(module, spec, dtype=torch.qint8, inplace=False)
