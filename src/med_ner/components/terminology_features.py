"""Terminology tags as NER features: the en_med_ner.TerminologyTagEmbed.v1 layer.

For every token it looks up a learned vector for its tag (O/B/I) under each
vocabulary type (DRUG, SYMPTOM, DISEASE) and concatenates the three: width
* 3 columns per token, beside the transformer listener's vectors in the
NER's tok2vec (configs/ner_transformer_terminology.cfg). The tags come from
`doc._.term_tags`, which the `terminology_matcher` sets; in training it runs
as an annotating component, so the model sees the tags it will see at
inference. A doc without tags is an error, not zeros: a pipeline that forgot
the matcher would otherwise train or predict without the features silently.
The one exception is the shape probe of initialisation: thinc's chain runs
each layer once on the sample docs right after initialising it, before any
annotating component has run (spaCy's TransformerListener returns zeros there
too); that single call reads missing tags as "outside every match".
"""
from typing import List, Tuple

import numpy

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d, Ints2d

from med_ner.components.terminology_matcher import TAG_NAMES
from med_ner.components.terminology_vocab import TERM_TYPES


class MissingTermTags(ValueError):
    pass


def doc_tag_rows(model: Model, doc: Doc) -> Ints2d:
    """Row indices into the embedding table: one per vocabulary type, offset by type."""
    tags = doc._.term_tags
    if tags is None and model.attrs["shape_probe"]:
        tags = numpy.zeros((len(doc), len(TERM_TYPES)), dtype="int8")
    elif tags is None or len(tags) != len(doc):
        raise MissingTermTags(
            "a document reached the terminology features without doc._.term_tags: put terminology_matcher "
            "before ner in [nlp] pipeline and in [training] annotating_components")
    offsets = model.ops.xp.arange(len(TERM_TYPES), dtype="i") * len(TAG_NAMES)
    return model.ops.asarray2i(tags, dtype="i") + offsets


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], callable]:
    table = model.get_param("E")
    width = table.shape[1]
    rows = [doc_tag_rows(model, doc) for doc in docs]
    model.attrs["shape_probe"] = False
    outputs = [table[r].reshape((r.shape[0], r.shape[1] * width)) for r in rows]

    def backprop(d_outputs: List[Floats2d]) -> List[Doc]:
        d_table = model.ops.alloc2f(*table.shape)
        for r, d_out in zip(rows, d_outputs):
            model.ops.scatter_add(d_table, r.reshape(-1), d_out.reshape((-1, width)))
        model.inc_grad("E", d_table)
        return []

    return outputs, backprop


def init(model: Model, X=None, Y=None) -> Model:
    width = model.attrs["width"]
    # Small random rows, so the three tags start distinguishable for the layer above.
    table = numpy.random.default_rng(0).normal(0.0, 0.1, (len(TERM_TYPES) * len(TAG_NAMES), width))
    model.set_param("E", model.ops.asarray2f(table.astype("float32")))
    model.attrs["shape_probe"] = True
    return model


@registry.architectures("en_med_ner.TerminologyTagEmbed.v1")
def terminology_tag_embed(width: int = 16) -> Model[List[Doc], List[Floats2d]]:
    """Each token's terminology tags as a vector of len(TERM_TYPES) * width floats."""
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    return Model("terminology_tag_embed", forward, init=init, dims={"nO": len(TERM_TYPES) * width},
                 params={"E": None}, attrs={"width": width, "shape_probe": False})
