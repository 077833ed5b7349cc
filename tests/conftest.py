import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
# The project's scripts (the benchmark harness) are not installed: their tests import them from scripts/.
BENCHMARK = str(ROOT / "scripts" / "benchmark.py")
sys.path.insert(0, str(ROOT / "scripts"))


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory):
    """Release pipelines predict through an ONNX export cached in $MED_NER_CACHE:
    the tests' exports (and the processes they start) use a cache of their own,
    never the user's ~/.cache."""
    import os

    previous = os.environ.get("MED_NER_CACHE")
    os.environ["MED_NER_CACHE"] = str(tmp_path_factory.mktemp("med_ner_cache"))
    yield
    if previous is None:
        os.environ.pop("MED_NER_CACHE", None)
    else:
        os.environ["MED_NER_CACHE"] = previous


def corpus_dir(name: str) -> Path:
    """A real corpus: assets/<name> (where `spacy project assets` or CI puts it),
    else ../shared/data/<name>; the test is skipped when neither exists."""
    for base in (ROOT / "assets", SHARED_DATA):
        if (base / name).is_dir():
            return base / name
    pytest.skip(f"corpus {name} not available (run `spacy project assets`)")


def maccrobat_all_ids(tmp_path: Path) -> Path:
    """An ids file of all 200 MACCROBAT documents, through the committed split
    files (a git checkout of the corpus also holds a stray hi.txt)."""
    splits = [ROOT / "assets" / "splits" / "maccrobat" / f"{name}.txt" for name in ("train", "dev", "test")]
    ids = tmp_path / "all.txt"
    ids.write_text("".join(p.read_text(encoding="utf-8") for p in splits), encoding="utf-8")
    return ids


def make_doc(nlp, text, ents, attrs=None):
    """A doc with entities given as (substring, label), found left to right."""
    doc = nlp.make_doc(text)
    spans, pos = [], 0
    for sub, label in ents:
        start = text.index(sub, pos)
        pos = start + len(sub)
        spans.append(doc.char_span(start, pos, label=label))
    assert all(s is not None for s in spans), ents
    doc.ents = spans
    if attrs is not None:
        doc.user_data["ent_attrs"] = {
            f"{s.start_char}:{s.end_char}": {"POLARITY": attrs[i]} for i, s in enumerate(spans) if attrs[i]
        }
    return doc


# A sentence for the runtime tests, and the transformer output they compare.
TEXT = "She was suffering from malaria and fits, so she used amodiaquine; she has fever and pain on the hip."


def hidden(nlp, text=TEXT):
    return nlp(text)._.trf_data.tensors[0]


def save_tiny_bert(out: Path, hidden_size: int = 32, layers: int = 2, heads: int = 2) -> Path:
    """A randomly initialised BERT (seeded) with a WordPiece vocab built from the
    sample corpus, saved to `out` as a plain Hugging Face directory."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = set()
    for path in (ROOT / "assets" / "sample").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            words.update(re.findall(r"\w+|[^\w\s]", json.loads(line)["text"].lower()))
    chars = sorted({c for w in words for c in w})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + [f"##{c}" for c in chars]
    vocab += sorted(w for w in words if len(w) > 1)[:2000]
    (out / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(out / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(out)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=hidden_size, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=2 * hidden_size, max_position_embeddings=512,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        BertModel(config).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_transformer(tmp_path_factory) -> Path:
    """A 2-layer BERT of width 32 (see save_tiny_bert)."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_trained_pipeline(tmp_path_factory, tiny_transformer):
    """configs/ner_transformer.cfg with the tiny BERT, a few updates on the sample corpus (saved; read-only for tests)."""
    import spacy
    from spacy.training import Example

    config = spacy.util.load_config(ROOT / "configs" / "ner_transformer.cfg",
                                    overrides={"paths.transformer": str(tiny_transformer)}, interpolate=True)
    # Seeded: the weights (and what the tests built on them see) must not depend on which tests ran first.
    spacy.util.fix_random_seed(0)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    examples = []
    for line in (ROOT / "assets" / "sample" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:20]:
        record = json.loads(line)
        doc = nlp.make_doc(record["text"])
        spans = [(s["start"], s["end"], s["label"]) for s in record.get("spans", record.get("entities", []))]
        examples.append(Example.from_dict(doc, {"entities": spans}))
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    out = tmp_path_factory.mktemp("model") / "tiny"
    nlp.to_disk(out)
    return out


# Attribute fixtures: short texts with gold entities, attribute spans and links.
SYMPTOMS = ["pain", "cough", "rash", "fatigue"]
SITES = ["chest", "back", "neck"]


def attribute_gold_doc(nlp, rng):
    """'<symptom> and severe <site> <symptom> , hemoglobin 7 mg .' with its gold links."""
    from spacy.tokens import Span

    s1, s2 = rng.sample(SYMPTOMS, 2)
    doc = nlp.make_doc(f"{s1} and severe {rng.choice(SITES)} {s2} , hemoglobin {rng.randint(2, 9)} mg .")
    doc.ents = [Span(doc, i, i + 1, label)
                for i, label in ((0, "SYMPTOM"), (3, "BODY_PART"), (4, "SYMPTOM"), (6, "TEST"))]
    doc.spans["attributes"] = [Span(doc, 2, 3, "SEVERITY"), Span(doc, 7, 9, "LAB_VALUE")]
    pain, test = doc.ents[2], doc.ents[3]
    doc.user_data["links"] = [[m.start_char, m.end_char, h.start_char, h.end_char] for m, h in (
        (doc[2:3], pain), (doc.ents[1], pain), (doc[7:9], test))]
    return doc
