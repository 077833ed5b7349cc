"""The split learning rate of the training config's optimizer
(en_med_ner.SplitRateAdam.v1)."""
import numpy
import pytest

from med_ner.training.optimizer import split_rate_adam


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
