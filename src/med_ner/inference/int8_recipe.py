"""The onnx-int8 recipe: activation smoothing calibrated on shipped text,
then dynamic int8 (per channel) MatMul and attention weights and uint8
embeddings, except the first layer's FFN output projection (first_ffn_output)."""
import logging
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Dict, List, Optional, Sequence

# Activation smoothing before int8 (the SmoothQuant idea, Xiao et al. 2023):
# each MatMul's input channels are divided by s = max|x|^a / max|W|^(1-a) and
# its weight rows multiplied by s, so the per-tensor int8 activations lose
# less to the few channels with large values (up to 14x the median here) and
# the per-channel int8 weights take the difference. On the release model's
# dev windows, calibrated on CALIBRATION_TEXT, it cut the int8 error in the
# last hidden state from 8.7% to 5.2% (MACCROBAT) and 6.2% to 3.7% (BC5CDR):
# a = 0.7 of 0.3-1.0, chosen on dev (README, Fast CPU inference).
SMOOTHING_ALPHA = 0.7
# Clinical and biomedical paragraphs written for calibration (no corpus text):
# the channel maxima are a property of the weights, so 20 windows do.
CALIBRATION_TEXT = resources.files("med_ner.inference") / "calibration_text.txt"


def calibration_feeds(tokenizer, max_length: int = 128) -> List[Dict]:
    """One window of token ids per paragraph of CALIBRATION_TEXT."""
    import numpy

    paragraphs = [p for p in CALIBRATION_TEXT.read_text(encoding="utf8").split("\n\n") if p.strip()]
    feeds = []
    for text in paragraphs:
        ids = numpy.asarray(tokenizer(text, truncation=True, max_length=max_length)["input_ids"], dtype="int64")[None]
        feeds.append({"input_ids": ids, "attention_mask": numpy.ones_like(ids),
                      "token_type_ids": numpy.zeros_like(ids)})
    return feeds


def smoothing_targets(model) -> List:
    """The MatMul and fused attention nodes whose weight (input 1) is a
    constant used by that node alone, i.e. those quantize_onnx makes int8."""
    constants = {init.name for init in model.graph.initializer}
    uses = Counter(name for node in model.graph.node for name in node.input)
    return [node for node in model.graph.node if node.op_type in ("MatMul", "Attention") and len(node.input) > 1
            and node.input[1] in constants and uses[node.input[1]] == 1]


def activation_channel_max(path: Path, tensors: List[str], feeds: List[Dict]) -> Dict:
    """max |x| per last-axis channel of each tensor in `tensors`, over `feeds`."""
    import numpy
    import onnx
    import onnxruntime

    model = onnx.load(str(path))
    for name in tensors:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    maxima: Dict = {}
    for feed in feeds:
        for name, value in zip(tensors, session.run(tensors, {k: feed[k] for k in inputs})):
            channel = numpy.abs(value.reshape(-1, value.shape[-1])).max(axis=0)
            maxima[name] = numpy.maximum(maxima[name], channel) if name in maxima else channel
    return maxima


def smooth_activations(source: Path, target: Path, feeds: List[Dict], alpha: float = SMOOTHING_ALPHA,
                       skip: Sequence[str] = ()) -> Dict[str, int]:
    """Rewrite each smoothing target x @ W (but those named in `skip`, which
    stay float32) as (x * 1/s) @ (s W), with s per input channel from the
    activation maxima over `feeds` (SMOOTHING_ALPHA). Equal in float. Where x
    is a fused attention's output, 1/s goes into its value projection;
    elsewhere an elementwise Mul applies it. Returns how many of each."""
    import numpy
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    skipped = set(skip)
    nodes = [node for node in smoothing_targets(model) if node.name not in skipped]
    maxima = activation_channel_max(source, sorted({node.input[0] for node in nodes}), feeds)
    constants = {init.name: init for init in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    uses = Counter(name for node in model.graph.node for name in node.input)
    smoothed = {id(node) for node in nodes}
    counts = {"mul": 0, "folded_into_values": 0, "float32": len(skip)}
    order = []
    for node in model.graph.node:
        if id(node) in smoothed:
            weight = constants[node.input[1]]
            w = numpy_helper.to_array(weight).astype("float32")
            x_max = numpy.maximum(maxima[node.input[0]], 1e-5)
            w_max = numpy.maximum(numpy.abs(w).max(axis=1), 1e-5)
            scale = numpy.clip(x_max ** alpha / w_max ** (1 - alpha), 1e-3, 1e3).astype("float32")
            weight.CopyFrom(numpy_helper.from_array(w * scale[:, None], weight.name))
            inverse = (1 / scale).astype("float32")
            if _fold_into_values(producers.get(node.input[0]), uses[node.input[0]], constants, inverse):
                counts["folded_into_values"] += 1
            else:
                init = numpy_helper.from_array(inverse, f"{node.name}_smoothing")
                model.graph.initializer.append(init)
                scaled = f"{node.name}_smoothed_input"
                order.append(onnx.helper.make_node("Mul", [node.input[0], init.name], [scaled],
                                                   name=f"{node.name}_smooth"))
                node.input[0] = scaled
                counts["mul"] += 1
        order.append(node)
    del model.graph.node[:]
    model.graph.node.extend(order)
    onnx.save(model, str(target))
    return counts


def _fold_into_values(attention, consumers: int, constants: Dict, inverse) -> bool:
    """Scale the value columns of `attention` (ORT's fused Attention, whose
    weight is [hidden, 3 x hidden] in Q, K, V order) by `inverse`, where its
    output feeds only the MatMul being smoothed: the attention output is a
    weighted sum of values, so its channel j scales with value channel j."""
    from onnx import numpy_helper

    if attention is None or attention.op_type != "Attention" or consumers != 1 or len(attention.input) < 3:
        return False
    if any(a.name == "qkv_hidden_sizes" for a in attention.attribute):
        return False
    weight, bias = constants.get(attention.input[1]), constants.get(attention.input[2])
    if weight is None or bias is None:
        return False
    w, b = numpy_helper.to_array(weight).astype("float32"), numpy_helper.to_array(bias).astype("float32")
    hidden = len(inverse)
    if w.shape[-1] != 3 * hidden or b.shape[-1] != 3 * hidden:
        return False
    w[:, 2 * hidden:] *= inverse[None, :]
    b[2 * hidden:] *= inverse
    weight.CopyFrom(numpy_helper.from_array(w, weight.name))
    bias.CopyFrom(numpy_helper.from_array(b, bias.name))
    return True


GELU_OPS = ("Gelu", "BiasGelu", "FastGelu")


def first_ffn_output(model) -> List[str]:
    """The name of the first MatMul fed by a GELU (the first layer's FFN output
    projection), or [] where there is none. It stays float32: after smoothing
    it held the largest share of the int8 error left (keeping it float took
    the release model's hidden-state error on MACCROBAT dev from 5.5% to 4.6%
    at about 3% of the session time; no other single MatMul gave over 0.5
    points), and it is what made NCBI-disease dev F1 drop 0.48 with uint8
    embeddings (0.00 to +0.18 with it float32, two builds)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    for node in model.graph.node:
        if node.op_type != "MatMul":
            continue
        source = producers.get(node.input[0])
        if source is not None and source.op_type == "Mul" and source.name.endswith("_smooth"):
            source = producers.get(source.input[0])
        if source is not None and source.op_type in GELU_OPS:
            return [node.name]
    return []


def quantize_onnx(source: Path, target: Path, exclude: Optional[List[str]] = None, embeddings: bool = True) -> None:
    """Dynamic int8 weights, one scale per output channel, for the MatMuls and
    the fused attention's QKV projection (QAttention): with the attention too,
    MiniLM ran a 16 x 180 batch in 0.60 s against 0.96 s for MatMuls only
    (1.51 s float32), at the same error against float32. The fused embedding
    lookup (QEmbedLayerNormalization) keeps its tables as uint8: MiniLM's file
    shrinks from 56 to 21 MB, and the release model's hidden-state error on
    MACCROBAT dev goes from 5.2% to 5.5%."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Shape inference cannot type the outputs of ORT's fused ops (contrib
    # domain); every tensor there is float32.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to run pre-processing is for static quantization
    try:
        op_types = ["MatMul", "Attention"] + (["EmbedLayerNormalization"] if embeddings else [])
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=op_types, nodes_to_exclude=exclude or [],
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})
    finally:
        root.setLevel(level)
