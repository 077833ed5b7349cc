"""The split-rate Adam optimizer that the features config names."""
from spacy.util import registry
from thinc.api import Optimizer


class SplitRateOptimizer(Optimizer):
    """Adam whose rate for the parameters of thinc layers (the NER head and the
    hash embedding) is `head_scale` times the rate of the PyTorch transformer.

    A pretrained transformer wants a small rate; a head trained from scratch
    learns too slowly at that rate in a CPU-sized budget. PyTorch parameters
    reach the optimizer under their module path ("encoder.layer.0...."), thinc
    parameters under plain names ("W", "b", "E"), which is what tells them apart.
    """

    __slots__ = ("head_scale",)

    def __init__(self, learn_rate, *, head_scale: float, **kwargs):
        super().__init__(learn_rate, **kwargs)
        self.head_scale = head_scale

    def __call__(self, key, weights, gradient, *, lr_scale: float = 1.0):
        if "." not in key[1]:
            lr_scale *= self.head_scale
        return super().__call__(key, weights, gradient, lr_scale=lr_scale)


@registry.optimizers("en_med_ner.SplitRateAdam.v1")
def split_rate_adam(learn_rate=0.0001, *, head_scale: float = 10.0, L2: float = 0.01, beta1: float = 0.9,
                    beta2: float = 0.999, eps: float = 1e-08, grad_clip: float = 1.0, L2_is_weight_decay: bool = True,
                    use_averages: bool = False) -> Optimizer:
    """Adam with the head at `head_scale` times the transformer's rate (see SplitRateOptimizer)."""
    if head_scale <= 0:
        raise ValueError(f"head_scale must be positive, got {head_scale}")
    return SplitRateOptimizer(learn_rate, head_scale=head_scale, L2=L2, beta1=beta1, beta2=beta2, eps=eps,
                              grad_clip=grad_clip, L2_is_weight_decay=L2_is_weight_decay,
                              use_averages=use_averages, use_radam=False)
