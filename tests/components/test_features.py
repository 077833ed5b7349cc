"""The terminology features: the tag embedding, and the same tags in training and at inference."""
from terminology_fixtures import matcher_nlp, small_terms_path  # noqa: F401  (fixtures)
import json
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from thinc.api import fix_random_seed

import med_ner.components.terminology_features as features
from med_ner.components.terminology_features import MissingTermTags, terminology_tag_embed

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "ner_transformer_terminology.cfg"


def test_embedding_concatenates_one_vector_per_type(matcher_nlp):
    model = terminology_tag_embed(width=4)
    model.initialize()
    doc = matcher_nlp("Congestive heart failure after aspirin")
    (out,), backprop = model([doc], is_train=True)
    table = model.get_param("E")
    assert out.shape == (5, 12)
    # "heart": I-SYMPTOM (row 3 + 2) and B-DISEASE (row 6 + 1), O for DRUG (row 0)
    assert numpy.allclose(out[1], numpy.concatenate([table[0], table[5], table[7]]))
    backprop([numpy.ones_like(out)])
    # Row 0 (DRUG O) is used by the four non-drug tokens.
    assert numpy.allclose(model.get_grad("E")[0], 4.0)


def test_untagged_doc_is_an_error_not_zeros():
    model = terminology_tag_embed(width=4)
    model.initialize()
    untagged = spacy.blank("en")("no tags here")
    # Only the shape probe right after initialisation reads missing tags as O.
    assert model.predict([untagged])[0].shape == (3, 12)
    with pytest.raises(MissingTermTags, match="annotating_components"):
        model([untagged], is_train=False)


def sample_docbin(nlp, split: str, path: Path) -> Path:
    docbin = DocBin()
    for line in (ROOT / "assets/sample" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        doc = nlp.make_doc(record["text"])
        doc.ents = [doc.char_span(s["start"], s["end"], s["label"], alignment_mode="expand") for s in record["spans"]]
        docbin.add(doc)
    docbin.to_disk(path)
    return path


@pytest.mark.slow
def test_training_and_inference_see_the_same_tags(tmp_path, tiny_transformer, small_terms_path, monkeypatch):
    from spacy.cli.train import train

    nlp = spacy.blank("en")
    train_path = sample_docbin(nlp, "train", tmp_path / "train.spacy")
    dev_path = sample_docbin(nlp, "dev", tmp_path / "dev.spacy")
    seen = {True: {}, False: {}}  # is_train -> {text: tags}
    real_forward = features.forward

    def recording_forward(model, docs, is_train):
        for doc in docs:
            if doc._.term_tags is not None:  # None only in initialisation's shape probe
                seen[is_train][doc.text] = doc._.term_tags.tolist()
        return real_forward(model, docs, is_train)

    monkeypatch.setattr(features, "forward", recording_forward)
    fix_random_seed(0)
    train(CONFIG, tmp_path / "model", overrides={
        "paths.train": str(train_path), "paths.dev": str(dev_path), "paths.transformer": str(tiny_transformer),
        "paths.terms": str(small_terms_path), "training.max_steps": 4, "training.eval_frequency": 2,
        "training.optimizer.learn_rate.warmup_steps": 1,
    })
    training_tags = seen[True]
    train_texts = {json.loads(line)["text"] for line in (ROOT / "assets/sample/train.jsonl").read_text().splitlines()}
    assert set(training_tags) <= train_texts and training_tags
    assert any(numpy.asarray(tags).any() for tags in training_tags.values())  # the small vocabulary does match

    seen[False].clear()
    loaded = spacy.load(tmp_path / "model" / "model-best")
    assert loaded.pipe_names == ["transformer", "terminology_matcher", "ner", "terminology_linker"]
    list(loaded.pipe(sorted(training_tags)))
    assert seen[False] == training_tags
