"""Score a pipeline on a DocBin with spaCy's scorer: overall and per-label
precision, recall and F1 (the headline), plus a bootstrap interval of F1,
nervaluate's partial-match modes, an error breakdown (med_ner.evaluation.metrics)
and, where the pipeline has entity_confidence, the calibration of its
confidences (med_ner.evaluation.calibration), written as JSON and as a markdown report.

The outputs are rewritten on every run, never appended to.
"""
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

from med_ner.corpus.reading import ConversionError, read_bytes, read_docbin
from med_ner.inference.loading import load_pipeline
from med_ner.evaluation import attributes as ner_attributes
from med_ner.evaluation import calibration as ner_calibration
from med_ner.evaluation import metrics as ner_metrics

SCORE_KEYS = ("ents_p", "ents_r", "ents_f")
# End-to-end flag scores of clinical_context: a predicted entity counts when its
# span and label match a gold entity. Absent or None without gold polarity.
CONTEXT_KEYS = tuple(f"{flag}_{k}" for flag in ("negated", "uncertain") for k in ("p", "r", "f"))


def check_docbins(data_path: Path, train_path: Optional[Path] = None) -> Dict[Path, bytes]:
    """The data is checked before the (slow) model load: a DocBin, with
    documents that carry entity annotation. Returns the bytes read, so that a
    FIFO (read once) is read once, as predict reads one."""
    import spacy

    data = {}
    for path in (data_path, train_path):
        if path is None:
            continue
        data[path] = read_bytes(path)
        docs = read_docbin(path, spacy.blank("xx").vocab, data[path])
        if not docs:
            raise ConversionError(path, "no documents to evaluate" if path == data_path else "no training documents")
        if path == data_path and not any(doc.has_annotation("ENT_IOB") for doc in docs):
            raise ConversionError(path, "its documents carry no entity annotation (a DocBin saved without ENT_IOB "
                                        "and ENT_TYPE), so there is nothing to score against")
    return data


def read_examples(nlp, path: Path, data: bytes) -> List:
    """Examples as spacy.training.Corpus makes them (the reference's text
    tokenised by the pipeline), from bytes already read."""
    from spacy.tokens import DocBin
    from spacy.training import Example

    docs = DocBin(store_user_data=True).from_bytes(data).get_docs(nlp.vocab)
    return [Example(nlp.make_doc(doc.text), doc) for doc in docs]


def _load(model: str, code: Optional[str], gpu_id: int, inference: Optional[str] = None):
    import spacy

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    return load_pipeline(model, code, inference=inference)


def evaluate_model(model: str, data_path: Path, split: str, gpu_id: int = -1, *,
                   train_path: Optional[Path] = None, code: Optional[str] = None,
                   inference: Optional[str] = None) -> Dict:
    data = check_docbins(data_path, train_path)
    nlp = _load(model, code, gpu_id, inference)
    examples = read_examples(nlp, data_path, data[data_path])
    train_docs = [eg.reference for eg in read_examples(nlp, train_path, data[train_path])] if train_path else None
    return score_pipeline(nlp, model, examples, data_path, split, train_docs)


def evaluate_mix(model: str, corpus_dir: Path, corpora: List[str], harmonisation: Path, split: str = "test",
                 train_split: Optional[str] = "train", gpu_id: int = -1, *,
                 code: Optional[str] = None, inference: Optional[str] = None) -> Dict:
    """Score one pipeline on each corpus's split, gold labels mapped through the
    harmonisation table and only the labels that corpus annotates scored. Seen
    mentions are those of every corpus's training split (what a mix model saw)."""
    from med_ner.training.mix import CorpusUnion, split_path

    nlp = _load(model, code, gpu_id, inference)
    train_docs = None
    if train_split:
        train_docs = [eg.reference for eg in CorpusUnion(corpus_dir, train_split, corpora, harmonisation)(nlp)]
    results = {}
    # A corpus without this split (Chia has no test split) is listed, not scored.
    without_split = [name for name in corpora if not split_path(corpus_dir, name, split).exists()]
    if len(without_split) == len(corpora):
        raise ValueError(f"{corpus_dir}: no corpus has a {split!r} split ({', '.join(corpora)})")
    for name in corpora:
        if name in without_split:
            continue
        examples = list(CorpusUnion(corpus_dir, split, [name], harmonisation)(nlp))
        results[name] = score_pipeline(nlp, model, examples, split_path(corpus_dir, name, split), split, train_docs)
        results[name]["corpus"] = name
    return {"model": str(model), "split": split, "harmonisation": str(harmonisation), "inference": inference,
            "corpora": results, "without_split": without_split}


def score_pipeline(nlp, model: str, examples: List, data_path: Path, split: str,
                   train_docs: Optional[List] = None) -> Dict:
    """Predict and score; a reference marked with its corpus's annotated labels
    (the mix readers) is scored on those labels only."""
    from spacy.scorer import Scorer

    from med_ner.training.harmonise import ANNOTATES_KEY
    from med_ner.training.scorer import restrict_to_annotated

    if not examples:
        raise ValueError(f"{data_path}: no documents to evaluate")
    # What nlp.evaluate does, keeping the predicted docs for the extra scores
    # (nlp.evaluate scores copies of the examples and drops them).
    start = time.perf_counter()
    for eg, doc in zip(examples, nlp.pipe(eg.predicted for eg in examples)):
        eg.predicted = doc
    seconds = time.perf_counter() - start
    examples = [restrict_to_annotated(eg) for eg in examples]
    scores = Scorer(nlp=nlp).score(examples)
    gold = [ner_metrics.doc_spans(eg.reference) for eg in examples]
    pred = [ner_metrics.doc_spans(eg.predicted) for eg in examples]
    support = Counter(ent.label_ for eg in examples for ent in eg.reference.ents)
    per_type = scores.get("ents_per_type") or {}
    model_labels = set(nlp.get_pipe("ner").labels) if "ner" in nlp.pipe_names else set()
    annotated = examples[0].reference.user_data.get(ANNOTATES_KEY)
    if annotated is not None:
        model_labels &= set(annotated)
    labels = sorted(set(support) | set(per_type) | model_labels)
    seen_unseen = {}
    if train_docs is not None:
        train_mentions = ner_metrics.mention_texts(train_docs)
        seen_unseen = ner_metrics.seen_unseen_recall([eg.reference for eg in examples], pred, train_mentions)
    calibration = ner_calibration.calibration_report(((eg.predicted, eg.reference) for eg in examples),
                                                     sum(support.values()))
    if calibration and "entity_confidence" in nlp.pipe_names:
        # Which map, fitted on what, and why (the CV ECE of each map on dev).
        calibration["map"] = ner_calibration.map_description(nlp.get_pipe("entity_confidence").calibrator)
    return {
        "model": str(model),
        "pipeline": f"{nlp.meta['lang']}_{nlp.meta['name']}-{nlp.meta['version']}",
        "data": str(data_path),
        "split": split,
        "documents": len(examples),
        "words": sum(len(eg.reference) for eg in examples),
        "entities": sum(support.values()),
        **{key: scores[key] for key in SCORE_KEYS},
        "ents_per_type": {
            label: {**{k: per_type.get(label, {}).get(k, 0.0) for k in ("p", "r", "f")}, "support": support[label]}
            for label in labels
        },
        "ents_f_ci95": ner_metrics.bootstrap_f1(ner_metrics.per_doc_counts(gold, pred)),
        "partial_match": ner_metrics.nervaluate_scores(gold, pred, labels),
        "half_partial": ner_metrics.half_partial_scores(gold, pred),
        "errors": ner_metrics.error_breakdown(gold, pred),
        "context": {key: scores[key] for key in CONTEXT_KEYS if scores.get(key) is not None},
        "context_support": {flag: scores[f"{flag}_support"] for flag in ("negated", "uncertain")
                            if scores.get(f"{flag}_support") is not None},
        "words_per_second": sum(len(eg.predicted) for eg in examples) / seconds,
        **seen_unseen,
        # ECE, reliability bins and the threshold table; None without entity_confidence.
        "calibration": calibration,
        # Attribute spans and links; None without attribute_linker or gold links.
        "attributes": ner_attributes.attribute_report(nlp, examples),
    }


def write_outputs(metrics: Dict, output: Path, markdown: Optional[Path]) -> str:
    """Write the metrics JSON, the markdown table and the reliability diagram
    where the metrics have calibration, as one group (a failed write leaves all
    the old files); returns the table."""
    from med_ner.outputs import output_group, write_json, write_text

    with output_group():
        write_reliability_diagram(metrics, output, markdown)  # sets the link the table shows
        table = markdown_table(metrics)
        write_json(output, metrics, "--output")
        if markdown is not None:
            write_text(markdown, table, "--markdown output")
    return table


def write_reliability_diagram(metrics: Dict, output: Path, markdown: Optional[Path] = None) -> Optional[Path]:
    """<output stem>.reliability.png beside the metrics JSON, linked from the
    markdown (metrics["reliability_diagram"], relative to it); None without calibration."""
    import os

    report = metrics.get("calibration")
    if not report:
        return None
    path = Path(output).with_suffix(".reliability.png")
    ner_calibration.reliability_diagram(report, path, title=f"{metrics.get('split', '')}:")
    base = Path(markdown).parent if markdown is not None else Path(output).parent
    metrics["reliability_diagram"] = Path(os.path.relpath(path, base)).as_posix()
    return path


def markdown_table(metrics: Dict) -> str:
    lines = [
        f"Scores of `{metrics['pipeline']}` on the **{metrics['split']}** split (`{metrics['data']}`): "
        f"{metrics['documents']} documents, {metrics['words']} words, {metrics['entities']} gold entities. "
        "Exact-match entity scores from spaCy's scorer.",
        "",
        "| label | precision | recall | F1 | gold entities |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, s in metrics["ents_per_type"].items():
        lines.append(f"| {label} | {s['p'] * 100:.2f} | {s['r'] * 100:.2f} | {s['f'] * 100:.2f} | {s['support']} |")
    lines.append(
        f"| **all (micro)** | **{metrics['ents_p'] * 100:.2f}** | **{metrics['ents_r'] * 100:.2f}** | "
        f"**{metrics['ents_f'] * 100:.2f}** | **{metrics['entities']}** |"
    )
    if "ents_f_ci95" in metrics:
        lo, hi = metrics["ents_f_ci95"]
        lines += ["", f"95% bootstrap interval of the micro F1 (1,000 resamples of documents): {lo * 100:.2f}–{hi * 100:.2f}."]
    if metrics.get("recall_unseen") is not None and metrics.get("recall_seen") is not None:
        lines += ["", f"Recall of the {metrics['mentions_seen']} gold mentions whose lowercased text is a training "
                  f"mention: {metrics['recall_seen'] * 100:.2f}; of the other {metrics['mentions_unseen']}: "
                  f"{metrics['recall_unseen'] * 100:.2f}."]
    if "half_partial" in metrics:
        h = metrics["half_partial"]
        lines += ["", f"eHealth-KD Task A score (a partial match with the same label counts half): P "
                  f"{h['p'] * 100:.2f}, R {h['r'] * 100:.2f}, F1 {h['f'] * 100:.2f} (correct {h['correct']}, "
                  f"incorrect {h['incorrect']}, partial {h['partial']}, missing {h['missing']}, "
                  f"spurious {h['spurious']})."]
    if "partial_match" in metrics:
        lines += ner_metrics.markdown_sections(metrics["partial_match"], metrics["errors"])
    if metrics.get("errors_view"):
        lines += ["", f"Documents with errors, gold beside predicted: [{metrics['errors_view']}]({metrics['errors_view']})."]
    if metrics.get("calibration"):
        lines += ner_calibration.markdown_section(metrics["calibration"], metrics.get("reliability_diagram"))
    context = metrics.get("context") or {}
    if context:
        lines += [
            "",
            "Negation and uncertainty (clinical_context), end to end: a predicted entity counts when its span and "
            "label match a gold entity.",
            "",
            "| flag | precision | recall | F1 | gold entities |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for flag in ("negated", "uncertain"):
            lines.append(
                f"| {flag} | {context[flag + '_p'] * 100:.2f} | {context[flag + '_r'] * 100:.2f} | "
                f"{context[flag + '_f'] * 100:.2f} | {metrics.get('context_support', {}).get(flag, 0)} |"
            )
    if metrics.get("attributes"):
        lines += ["", "Attribute spans (exact, and overlap with the same type) and links (a link counts when both "
                  "spans and the type match): with gold entities and attribute spans, against linking each "
                  "attribute to the nearest entity of a compatible label in its sentence; and end to end. 95% "
                  "intervals from 1,000 resamples of documents.", "",
                  ner_attributes.markdown(metrics["attributes"]).rstrip("\n")]
    return "\n".join(lines) + "\n"


def same_scores(a: Dict, b: Dict) -> List[str]:
    """Differences between the accuracy figures of two metrics dicts."""
    diffs = [f"{k}: {a[k]} != {b[k]}" for k in SCORE_KEYS if a[k] != b[k]]
    ca, cb = a.get("context", {}), b.get("context", {})
    diffs += [f"{k}: {ca.get(k)} != {cb.get(k)}" for k in CONTEXT_KEYS if ca.get(k) != cb.get(k)]
    ece_a, ece_b = ((m.get("calibration") or {}).get("ece") for m in (a, b))
    if ece_a != ece_b:
        diffs.append(f"confidence ECE: {ece_a} != {ece_b}")
    for label in sorted(set(a["ents_per_type"]) | set(b["ents_per_type"])):
        sa, sb = a["ents_per_type"].get(label, {}), b["ents_per_type"].get(label, {})
        diffs += [f"{label} {k}: {sa.get(k)} != {sb.get(k)}" for k in ("p", "r", "f", "support") if sa.get(k) != sb.get(k)]
    return diffs


def mix_markdown(result: Dict) -> str:
    """One row per corpus (its annotated labels only), then each corpus's per-label table."""
    lines = [
        f"Scores of `{result['model']}` on each corpus's **{result['split']}** split, gold labels mapped through "
        f"`{result['harmonisation']}`; each corpus is scored on the labels it annotates. Seen/unseen: whether the "
        "lowercased mention text occurs in any training split of the mix.",
        "",
        "| corpus | labels scored | P | R | F1 | F1 95% CI | overlap F1 | recall seen | recall unseen | "
        "gold entities | confidence ECE | P at 80% kept |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def pct(value) -> str:
        return "" if value is None else f"{value * 100:.2f}"

    for name, m in result["corpora"].items():
        lo, hi = m["ents_f_ci95"]
        cal = m.get("calibration") or {}
        ece = f"{cal['ece']:.4f}" if cal else ""
        lines.append(f"| {name} | {', '.join(m['ents_per_type'])} | {pct(m['ents_p'])} | {pct(m['ents_r'])} | "
                     f"{pct(m['ents_f'])} | {lo * 100:.2f}–{hi * 100:.2f} | "
                     f"{pct(((m.get('partial_match') or {}).get('overall') or {}).get('ent_type', {}).get('f'))} | "
                     f"{pct(m.get('recall_seen'))} | "
                     f"{pct(m.get('recall_unseen'))} | {m['entities']} | "
                     f"{ece} | {pct(cal.get('precision_at_80'))} |")
    if result.get("without_split"):
        lines += ["", f"Without a {result['split']} split (not scored): {', '.join(result['without_split'])}."]
    lines += ["", "Per corpus and label, exact match and overlap (a prediction of the same label overlapping the "
              "gold span: nervaluate's type mode):", "",
              "| corpus | label | P | R | F1 | overlap P | overlap R | gold entities |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, m in result["corpora"].items():
        overlap = (m.get("partial_match") or {}).get("per_type", {})
        for label, s in m["ents_per_type"].items():
            o = overlap.get(label, {}).get("ent_type", {})
            lines.append(f"| {name} | {label} | {pct(s['p'])} | {pct(s['r'])} | {pct(s['f'])} | {pct(o.get('p'))} | "
                         f"{pct(o.get('r'))} | {s['support']} |")
    for name, m in result["corpora"].items():
        if m.get("calibration"):
            diagram = m.get("reliability_diagram")
            lines += ["", f"### {name}"]
            lines += ner_calibration.markdown_section(m["calibration"], f"{name}/{diagram}" if diagram else None)
    return "\n".join(lines) + "\n"
