"""NER scores beyond spaCy's exact match: nervaluate's four modes (strict,
exact boundary, partial boundary, type) with COR/INC/PAR/MIS/SPU counts, an
error breakdown with a label confusion table, bootstrap confidence
intervals over documents, and recall on mentions seen and unseen in
training; and the eHealth-KD shared tasks' Task A score, where a partial
match counts half. spaCy's scorer stays the headline number.
"""
from collections import Counter
from typing import Dict, List, Sequence, Set, Tuple

import numpy

MODES = {"strict": "strict", "exact": "exact boundary", "partial": "partial boundary", "ent_type": "type"}
COUNT_KEYS = ("correct", "incorrect", "partial", "missed", "spurious")
Span = Tuple[int, int, str]  # start_char, end_char, label


def doc_spans(doc) -> List[Span]:
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def mention_texts(docs) -> Set[str]:
    """The lowercased texts of the docs' entities: what counts as seen."""
    return {ent.text.lower() for doc in docs for ent in doc.ents}


def seen_unseen_recall(gold_docs, pred: Sequence[List[Span]], train_mentions: Set[str]) -> Dict:
    """Exact-match recall of the gold mentions whose text (lowercased) occurs as
    a training mention, and of those whose text does not: how much a model
    memorises against how far it generalises to names it never saw."""
    found = {"seen": [0, 0], "unseen": [0, 0]}
    for doc, spans in zip(gold_docs, pred):
        predicted = set(spans)
        for ent, span in zip(doc.ents, doc_spans(doc)):
            counts = found["seen" if ent.text.lower() in train_mentions else "unseen"]
            counts[1] += 1
            counts[0] += span in predicted
    return {name: value for key, (hit, total) in found.items()
            for name, value in ((f"recall_{key}", hit / total if total else None), (f"mentions_{key}", total))}


def nervaluate_scores(gold: Sequence[List[Span]], pred: Sequence[List[Span]], labels: List[str]) -> Dict:
    from nervaluate import Evaluator

    def as_dicts(docs):
        return [[{"label": l, "start": s, "end": e - 1} for s, e, l in spans] for spans in docs]

    # nervaluate's offsets are inclusive; spaCy's end is exclusive.
    results = Evaluator(as_dicts(gold), as_dicts(pred), tags=labels, loader="dict").evaluate()

    def pack(r):
        return {**{k: getattr(r, k) for k in COUNT_KEYS}, "p": r.precision, "r": r.recall, "f": r.f1}

    return {
        "overall": {mode: pack(results["overall"][mode]) for mode in MODES},
        "per_type": {label: {mode: pack(results["entities"][label][mode]) for mode in MODES}
                     for label in labels if label in results["entities"]},
    }


def half_partial_scores(gold: Sequence[List[Span]], pred: Sequence[List[Span]]) -> Dict:
    """The eHealth-KD 2019/2020 Task A score (the task's own definitions, as
    published with the shared task): each gold and predicted mention is matched
    at most once, in this order: correct (same span and label), incorrect (same
    span, other label), partial (overlapping spans, same label); the rest of
    the gold mentions are missing and the rest of the predictions spurious.
    P = (C + P/2) / (C + I + P + S), R = (C + P/2) / (C + I + P + M)."""
    c = i = p = m = s = 0
    for g_spans, p_spans in zip(gold, pred):
        g_left, p_left = list(g_spans), list(p_spans)

        def match(same) -> int:
            found = 0
            for g in list(g_left):
                hit = next((x for x in p_left if same(g, x)), None)
                if hit is not None:
                    g_left.remove(g)
                    p_left.remove(hit)
                    found += 1
            return found

        c += match(lambda g, x: g == x)
        i += match(lambda g, x: g[:2] == x[:2])
        p += match(lambda g, x: g[2] == x[2] and x[0] < g[1] and g[0] < x[1])
        m += len(g_left)
        s += len(p_left)
    score = c + p / 2
    precision = score / (c + i + p + s) if c + i + p + s else 0.0
    recall = score / (c + i + p + m) if c + i + p + m else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"correct": c, "incorrect": i, "partial": p, "missing": m, "spurious": s,
            "p": precision, "r": recall, "f": f1}


def error_breakdown(gold: Sequence[List[Span]], pred: Sequence[List[Span]]) -> Dict:
    """Each gold and predicted entity in one category: correct; boundary (same
    label, overlapping other span); type (same span, other label); boundary+type;
    missed (no overlapping prediction); spurious (no overlapping gold). The
    confusion table counts gold label -> predicted label over overlapping
    pairs, with "O" for missed and spurious entities; a prediction that
    explains no gold entity is spurious."""
    counts = Counter()
    confusion: Dict[str, Counter] = {}
    for g_spans, p_spans in zip(gold, pred):
        p_set = set(p_spans)
        used = set()
        for g in g_spans:
            if g in p_set:
                counts["correct"] += 1
                confusion.setdefault(g[2], Counter())[g[2]] += 1
                used.add(g)
                continue
            overlaps = [p for p in p_spans if p[0] < g[1] and g[0] < p[1] and p not in g_spans]
            if not overlaps:
                counts["missed"] += 1
                confusion.setdefault(g[2], Counter())["O"] += 1
                continue
            # The prediction sharing most characters explains the error.
            p = max(overlaps, key=lambda x: min(x[1], g[1]) - max(x[0], g[0]))
            used.update(overlaps)
            same_span, same_label = (p[0], p[1]) == (g[0], g[1]), p[2] == g[2]
            counts["type" if same_span else "boundary" if same_label else "boundary+type"] += 1
            confusion.setdefault(g[2], Counter())[p[2]] += 1
        for p in p_spans:
            if p not in used:
                counts["spurious"] += 1
                confusion.setdefault("O", Counter())[p[2]] += 1
    return {"counts": {k: counts.get(k, 0) for k in ("correct", "boundary", "type", "boundary+type", "missed", "spurious")},
            "confusion": {g: dict(c) for g, c in sorted(confusion.items())}}


def per_doc_counts(gold: Sequence[List[Span]], pred: Sequence[List[Span]]) -> numpy.ndarray:
    """Exact-match tp, fp, fn per document."""
    pairs = ((set(g_spans), set(p_spans)) for g_spans, p_spans in zip(gold, pred))
    rows = [(len(g & p), len(p - g), len(g - p)) for g, p in pairs]
    return numpy.asarray(rows, dtype="float64").reshape(-1, 3)


def bootstrap_f1(counts: numpy.ndarray, samples: int = 1000, seed: int = 0) -> List[float]:
    """95% interval of micro F1 over documents resampled with replacement,
    from per-document (tp, fp, fn) rows."""
    if len(counts) == 0:
        return [0.0, 0.0]
    rng = numpy.random.default_rng(seed)
    totals = counts[rng.integers(0, len(counts), size=(samples, len(counts)))].sum(axis=1)
    denom = 2 * totals[:, 0] + totals[:, 1] + totals[:, 2]
    f1 = numpy.where(denom > 0, 2 * totals[:, 0] / numpy.maximum(denom, 1), 0.0)
    return [round(float(x), 4) for x in numpy.percentile(f1, [2.5, 97.5])]


def markdown_sections(partial: Dict, errors: Dict) -> List[str]:
    lines = ["", "nervaluate modes (COR correct, INC incorrect, PAR partial, MIS missed, SPU spurious):", "",
             "| mode | COR | INC | PAR | MIS | SPU | P | R | F1 |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for mode, title in MODES.items():
        s = partial["overall"][mode]
        lines.append(f"| {title} | {s['correct']} | {s['incorrect']} | {s['partial']} | {s['missed']} | {s['spurious']} | "
                     f"{s['p'] * 100:.2f} | {s['r'] * 100:.2f} | {s['f'] * 100:.2f} |")
    c = errors["counts"]
    lines += ["", "Error breakdown: " + ", ".join(f"{k} {v}" for k, v in c.items()) + ".", "",
              "Confusion (rows gold, columns predicted; O = no entity):", ""]
    labels = sorted({l for row in errors["confusion"].values() for l in row} | set(errors["confusion"]))
    labels = [l for l in labels if l != "O"] + ["O"]
    lines += ["| gold \\ predicted | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
    for g in labels:
        row = errors["confusion"].get(g, {})
        lines.append(f"| {g} | " + " | ".join(str(row.get(p, 0)) if not (g == "O" and p == "O") else "" for p in labels) + " |")
    return lines
