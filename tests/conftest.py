import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def corpus_dir(name: str) -> Path:
    """A real corpus: assets/<name> (where `spacy project assets` or CI puts it),
    else ../shared/data/<name>; the test is skipped when neither exists."""
    for base in (ROOT / "assets", SHARED_DATA):
        if (base / name).is_dir():
            return base / name
    pytest.skip(f"corpus {name} not available (run `spacy project assets`)")


@pytest.fixture(scope="session")
def tiny_transformer(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT with a WordPiece vocab built from the
    sample corpus, saved as a plain Hugging Face directory."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = tmp_path_factory.mktemp("tiny_bert")
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
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(out)
    return out
