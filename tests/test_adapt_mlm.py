import json

import pytest
import spacy
import torch
from spacy.tokens import DocBin
from transformers import AutoModel, AutoTokenizer

import adapt_mlm

TEXTS = [
    "she was suffering from malaria and fits so to cure she used amodiaquine",
    "she has slightly fever and pain on hip",
    "the patient was given aspirin for chest pain and headache",
] * 4


@pytest.fixture()
def train_spacy(tmp_path):
    nlp = spacy.blank("en")
    path = tmp_path / "train.spacy"
    DocBin(docs=[nlp(t) for t in TEXTS]).to_disk(path)
    return path


def test_adapted_encoder_loads_and_differs(tiny_transformer, train_spacy, tmp_path):
    out = tmp_path / "adapted"
    adapt_mlm.main(str(train_spacy), out, transformer=str(tiny_transformer), steps=6, batch_size=4, seq_len=32,
                   learn_rate=1e-3, mask_prob=0.3, seed=0)
    before = AutoModel.from_pretrained(tiny_transformer).state_dict()
    after = AutoModel.from_pretrained(out).state_dict()
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before if "encoder.layer" in k)
    assert AutoTokenizer.from_pretrained(out).vocab == AutoTokenizer.from_pretrained(tiny_transformer).vocab
    meta = json.loads((out / "adapt_mlm.json").read_text())
    assert meta["steps"] == 6 and meta["sequences"] == len(TEXTS) and meta["train"] == [str(train_spacy)]


def test_masking_follows_bert(tiny_transformer):
    tokenizer = AutoTokenizer.from_pretrained(tiny_transformer)
    chunks = adapt_mlm.chunk_ids(TEXTS[:3] * 50, tokenizer, seq_len=16)
    assert all(len(c) <= 16 and c[0] == tokenizer.cls_token_id and c[-1] == tokenizer.sep_token_id for c in chunks)
    inputs, attention, labels = adapt_mlm.mask_batch(chunks, tokenizer, 0.15, torch.Generator().manual_seed(0))
    chosen = labels != -100
    ids = torch.where(chosen, labels, inputs)
    # Special tokens and padding are never chosen; about 15% of the rest are, most as [MASK].
    assert not chosen[(ids == tokenizer.cls_token_id) | (ids == tokenizer.sep_token_id) | (attention == 0)].any()
    share = chosen.sum().item() / (attention.sum().item() - 2 * len(chunks))
    assert 0.10 < share < 0.20
    masked = (inputs[chosen] == tokenizer.mask_token_id).float().mean().item()
    assert 0.7 < masked < 0.9


def test_missing_corpus_names_the_file(tiny_transformer, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.spacy"):
        adapt_mlm.main(str(tmp_path / "nope.spacy"), tmp_path / "out", transformer=str(tiny_transformer), steps=1,
                       batch_size=1, seq_len=16, learn_rate=1e-4, mask_prob=0.15, seed=0)
