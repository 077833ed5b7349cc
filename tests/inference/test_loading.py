"""load_pipeline's messages name the cause: a damaged weights file, a full disk."""
import shutil

import pytest

from med_ner.inference.loading import PipelineError, load_pipeline


def test_truncated_transformer_weights_are_named(tiny_trained_pipeline, tmp_path):
    copy = tmp_path / "pipeline"
    shutil.copytree(tiny_trained_pipeline, copy)
    weights = copy / "transformer" / "model"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(PipelineError) as err:
        load_pipeline(str(copy))
    message = str(err.value)
    assert f"{weights} is damaged or truncated" in message and "copy or install the pipeline again" in message
    assert "--code" not in message
