"""Calibration of entity confidences: the maps that turn the ner's raw path
probability into a calibrated one (fitted on dev only), and the report's
measures of how well a confidence means what it says.

- Calibrator: "platt" (logistic regression on the logit of the raw score),
  "platt-label" (one per label; labels with fewer than MIN_LABEL_ENTITIES dev
  entities, or only one outcome, use the global fit), "isotonic" (pool adjacent
  violators), or "identity" (raw scores as they are). A plain dict round trip,
  so it is stored with the pipeline, with `info`: how it was fitted and chosen.
- choose_method / cross_validated_ece: "auto" picks the map with the lowest
  k-fold cross-validated ECE, folds over documents (an entity is scored by a
  map fitted on the other folds' documents only).
- expected_calibration_error: ECE over predicted entities, 15 equal-width bins,
  an entity correct when its exact span and label are in the gold.
- threshold_table: precision, recall and F1 of the entities at or above each
  threshold 0.1 ... 0.9.
- reliability_diagram: the bins as a PNG (matplotlib).
"""
import math
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy

METHODS = ("platt", "platt-label", "isotonic", "identity")
# The maps "auto" chooses among, simplest first: a tie goes to the simpler one.
AUTO_METHODS = ("platt", "platt-label", "isotonic")
DEFAULT_FOLDS = 5
N_BINS = 15
THRESHOLDS = tuple(round(0.1 * i, 1) for i in range(1, 10))
# Fewer dev entities than this for a label: platt-label uses the global fit for it.
MIN_LABEL_ENTITIES = 30
EPS = 1e-6


def _logit(p) -> numpy.ndarray:
    p = numpy.clip(numpy.asarray(p, dtype="float64"), EPS, 1 - EPS)
    return numpy.log(p / (1 - p))


def _sigmoid(z) -> numpy.ndarray:
    z = numpy.clip(numpy.asarray(z, dtype="float64"), -500, 500)
    return 1.0 / (1.0 + numpy.exp(-z))


def fit_platt(raw: Sequence[float], correct: Sequence[bool], l2: float = 1e-3,
              weights: Optional[Sequence[float]] = None) -> Tuple[float, float]:
    """(a, b) of p = sigmoid(a * logit(raw) + b), by Newton's method on the
    (weighted) log loss (a small L2 on a - 1 and b keeps it finite on separable data)."""
    x = _logit(raw)
    y = numpy.asarray(correct, dtype="float64")
    v = numpy.ones_like(x) if weights is None else numpy.asarray(weights, dtype="float64")

    def loss(a: float, b: float) -> float:
        z = a * x + b
        # log(1 + e^z) - y z, stable for large |z|
        return float(numpy.sum(v * (numpy.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * ((a - 1) ** 2 + b ** 2))

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(100):
        p = _sigmoid(a * x + b)
        w = v * p * (1 - p)
        grad = numpy.array([numpy.sum(v * (p - y) * x) + l2 * (a - 1), numpy.sum(v * (p - y)) + l2 * b])
        hess = numpy.array([[numpy.sum(w * x * x) + l2, numpy.sum(w * x)], [numpy.sum(w * x), numpy.sum(w) + l2]])
        try:
            step = numpy.linalg.solve(hess, grad)
        except numpy.linalg.LinAlgError:
            break
        # Damped Newton: halve the step until the loss goes down.
        scale = 1.0
        while scale > 1e-6 and loss(a - scale * step[0], b - scale * step[1]) > current:
            scale /= 2
        if scale <= 1e-6:
            break
        a, b = a - scale * step[0], b - scale * step[1]
        previous, current = current, loss(a, b)
        if previous - current < 1e-10:
            break
    return float(a), float(b)


def fit_isotonic(raw: Sequence[float], correct: Sequence[bool],
                 weights: Optional[Sequence[float]] = None) -> Tuple[List[float], List[float]]:
    """Pool adjacent violators: a non-decreasing step map, as the (x, y) knots
    that numpy.interp reads (each block's weighted mean raw score and accuracy)."""
    order = numpy.argsort(numpy.asarray(raw, dtype="float64"), kind="stable")
    xs = numpy.asarray(raw, dtype="float64")[order]
    ys = numpy.asarray(correct, dtype="float64")[order]
    ws = numpy.ones_like(xs) if weights is None else numpy.asarray(weights, dtype="float64")[order]
    blocks: List[List[float]] = []  # [sum_wx, sum_wy, sum_w]
    for x, y, w in zip(xs, ys, ws):
        blocks.append([w * x, w * y, w])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            sx, sy, n = blocks.pop()
            blocks[-1][0] += sx
            blocks[-1][1] += sy
            blocks[-1][2] += n
    return [b[0] / b[2] for b in blocks], [b[1] / b[2] for b in blocks]


class Calibrator:
    """Maps raw confidences to calibrated ones; `to_dict`/`from_dict` for storage."""

    def __init__(self, method: str = "identity", params: Optional[Dict] = None, info: Optional[Dict] = None):
        if method not in METHODS:
            raise ValueError(f"calibration method {method!r} is not one of {', '.join(METHODS)}")
        self.method = method
        self.params = params or {}
        # How the map was fitted and chosen (dev data, entities, CV ECE per method): shown in the reports.
        self.info = info or {}

    def __call__(self, raw: Sequence[float], labels: Optional[Sequence[str]] = None) -> numpy.ndarray:
        raw = numpy.asarray(raw, dtype="float64")
        if self.method == "identity" or raw.size == 0:
            return numpy.clip(raw, 0.0, 1.0)
        if self.method == "isotonic":
            return numpy.clip(numpy.interp(raw, self.params["x"], self.params["y"]), 0.0, 1.0)
        a = numpy.full(raw.shape, self.params["a"])
        b = numpy.full(raw.shape, self.params["b"])
        if self.method == "platt-label" and labels is not None:
            for i, label in enumerate(labels):
                fit = self.params.get("labels", {}).get(label)
                if fit is not None:
                    a[i], b[i] = fit
        return _sigmoid(a * _logit(raw) + b)

    def to_dict(self) -> Dict:
        return {"method": self.method, "params": self.params, "info": self.info}

    @classmethod
    def from_dict(cls, data: Dict) -> "Calibrator":
        return cls(data.get("method", "identity"), data.get("params"), data.get("info"))

    @classmethod
    def fit(cls, method: str, raw: Sequence[float], correct: Sequence[bool],
            labels: Optional[Sequence[str]] = None, weights: Optional[Sequence[float]] = None) -> "Calibrator":
        if method not in METHODS:
            raise ValueError(f"calibration method {method!r} is not one of {', '.join(METHODS)}")
        raw = numpy.asarray(raw, dtype="float64")
        correct = numpy.asarray(correct, dtype=bool)
        if method == "identity":
            return cls("identity")
        if raw.size == 0:
            raise ValueError("no predicted entities to fit the calibration on")
        weights = numpy.ones(raw.size) if weights is None else numpy.asarray(weights, dtype="float64")
        if method == "isotonic":
            x, y = fit_isotonic(raw, correct, weights)
            return cls("isotonic", {"x": x, "y": y})
        a, b = fit_platt(raw, correct, weights=weights)
        params: Dict = {"a": a, "b": b}
        if method == "platt-label":
            params["labels"] = {}
            labels = numpy.asarray(labels if labels is not None else [""] * raw.size)
            for label in sorted(set(labels.tolist())):
                mask = labels == label
                if mask.sum() >= MIN_LABEL_ENTITIES and 0 < correct[mask].sum() < mask.sum():
                    params["labels"][label] = list(fit_platt(raw[mask], correct[mask], weights=weights[mask]))
            # The labels that fall back to the global fit (too few dev entities, or one outcome only).
            params["global_fit_labels"] = sorted(set(labels.tolist()) - set(params["labels"]))
        return cls(method, params)


def document_folds(groups: Sequence, folds: int = DEFAULT_FOLDS, seed: int = 0) -> numpy.ndarray:
    """Each entity's fold: its document's, documents dealt round-robin in a
    seeded random order, so no document is split across folds."""
    docs = sorted(set(groups), key=str)
    order = numpy.random.default_rng(seed).permutation(len(docs))
    fold_of = {docs[i]: n % folds for n, i in enumerate(order)}
    return numpy.asarray([fold_of[g] for g in groups], dtype=int)


def cross_validated_ece(method: str, raw: Sequence[float], correct: Sequence[bool], labels: Sequence[str],
                        groups: Sequence, folds: int = DEFAULT_FOLDS, seed: int = 0,
                        weights: Optional[Sequence[float]] = None) -> Optional[float]:
    """ECE of the out-of-fold calibrated scores: each fold's entities mapped by
    a `method` map fitted on the other folds (folds over documents, `groups`
    naming each entity's document), pooled. None with fewer than 2 documents."""
    raw = numpy.asarray(raw, dtype="float64")
    correct = numpy.asarray(correct, dtype=bool)
    labels = numpy.asarray(labels)
    weights = numpy.ones(raw.size) if weights is None else numpy.asarray(weights, dtype="float64")
    k = min(folds, len(set(groups)))
    if k < 2:
        return None
    fold = document_folds(groups, k, seed)
    out = numpy.empty(raw.size)
    for i in range(k):
        held = fold == i
        calibrator = Calibrator.fit(method, raw[~held], correct[~held], labels[~held].tolist(), weights[~held])
        out[held] = calibrator(raw[held], labels[held].tolist())
    return expected_calibration_error(out, correct)


def choose_method(raw: Sequence[float], correct: Sequence[bool], labels: Sequence[str], groups: Sequence,
                  folds: int = DEFAULT_FOLDS, methods: Sequence[str] = AUTO_METHODS, seed: int = 0,
                  weights: Optional[Sequence[float]] = None) -> Tuple[str, Dict[str, Optional[float]], int]:
    """The method with the lowest cross-validated ECE (a tie: the earlier, simpler
    one), the CV ECE of each, and the number of folds used."""
    if folds < 2:
        raise ValueError(f"--folds: {folds} is fewer than 2")
    k = min(folds, len(set(groups)))
    if k < 2:
        raise ValueError("--method auto: cross-validation needs predicted entities in at least 2 dev documents")
    scores = {method: cross_validated_ece(method, raw, correct, labels, groups, folds, seed, weights)
              for method in methods}
    best = min(methods, key=lambda m: (scores[m], methods.index(m)))
    return best, scores, k


def fit_calibration(method: str, raw: Sequence[float], correct: Sequence[bool], labels: Sequence[str],
                    groups: Sequence, folds: int = DEFAULT_FOLDS, seed: int = 0,
                    weights: Optional[Sequence[float]] = None) -> Calibrator:
    """Fit `method` ("auto": the lowest CV ECE of AUTO_METHODS) on the dev
    outcomes, each entity counting its weight (None: 1) in the fit; the
    Calibrator's info records the request, the choice, the CV ECE of each map
    (None where fewer than 2 documents), and the in-sample dev ECE."""
    if method not in METHODS and method != "auto":
        raise ValueError(f"--method: {method!r} is not one of {', '.join(METHODS + ('auto',))}")
    if not len(raw):
        raise ValueError("no predicted entities to fit the calibration on")
    if method == "auto":
        chosen, cv, k = choose_method(raw, correct, labels, groups, folds, seed=seed, weights=weights)
    else:
        chosen, k = method, min(folds, len(set(groups)))
        cv = {m: cross_validated_ece(m, raw, correct, labels, groups, folds, seed, weights) for m in AUTO_METHODS}
    calibrator = Calibrator.fit(chosen, raw, correct, labels, weights)
    calibrator.info = {
        "requested": method, "method": chosen, "folds": k if k >= 2 else None, "cv_ece": cv,
        "dev_entities": len(raw), "dev_correct": int(numpy.sum(correct)), "dev_documents": len(set(groups)),
        "dev_ece_raw": expected_calibration_error(raw, correct),
        "dev_ece_calibrated": expected_calibration_error(calibrator(raw, labels).tolist(), correct),
    }
    return calibrator


def entity_outcomes(pairs: Iterable[Tuple[object, object]]) -> Tuple[List[float], List[bool], List[str]]:
    """(confidence, correct, label) of every predicted entity of (predicted doc,
    reference doc) pairs: correct when its exact span and label are in the gold."""
    scores, correct, labels = [], [], []
    for predicted, reference in pairs:
        gold = {(e.start_char, e.end_char, e.label_) for e in reference.ents}
        for ent in predicted.ents:
            confidence = ent._.confidence if ent.has_extension("confidence") else None
            if confidence is None:
                continue
            scores.append(float(confidence))
            correct.append((ent.start_char, ent.end_char, ent.label_) in gold)
            labels.append(ent.label_)
    return scores, correct, labels


def reliability_bins(scores: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS) -> List[Dict]:
    """Equal-width bins over [0, 1] (the last one closed): each bin's entity
    count, mean confidence and accuracy (None where empty)."""
    scores = numpy.asarray(scores, dtype="float64")
    correct = numpy.asarray(correct, dtype="float64")
    index = numpy.minimum((scores * n_bins).astype(int), n_bins - 1) if scores.size else scores.astype(int)
    bins = []
    for i in range(n_bins):
        mask = index == i
        n = int(mask.sum())
        bins.append({"low": i / n_bins, "high": (i + 1) / n_bins, "count": n,
                     "confidence": float(scores[mask].mean()) if n else None,
                     "accuracy": float(correct[mask].mean()) if n else None})
    return bins


def expected_calibration_error(scores: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS) -> Optional[float]:
    """Sum over bins of (bin share of entities) x |accuracy - mean confidence|; None without entities."""
    total = len(scores)
    if not total:
        return None
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"])
                     for b in reliability_bins(scores, correct, n_bins) if b["count"]))


def threshold_table(scores: Sequence[float], correct: Sequence[bool], gold_entities: int,
                    thresholds: Sequence[float] = THRESHOLDS) -> List[Dict]:
    """Precision, recall and F1 of the predicted entities whose confidence is at
    least each threshold (0.0 first: every predicted entity), and the share kept."""
    scores = numpy.asarray(scores, dtype="float64")
    correct = numpy.asarray(correct, dtype=bool)
    rows = []
    for t in (0.0, *thresholds):
        kept = scores >= t
        tp, n = int(correct[kept].sum()), int(kept.sum())
        p = tp / n if n else 0.0
        r = tp / gold_entities if gold_entities else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        rows.append({"threshold": t, "kept": n, "kept_share": n / scores.size if scores.size else 0.0,
                     "p": p, "r": r, "f": f})
    return rows


def precision_at_share(scores: Sequence[float], correct: Sequence[bool], share: float = 0.8) -> Optional[float]:
    """Precision of the `share` most confident predicted entities (None without entities)."""
    if not len(scores):
        return None
    order = numpy.argsort(-numpy.asarray(scores, dtype="float64"), kind="stable")
    keep = max(1, int(math.ceil(share * len(scores))))
    return float(numpy.asarray(correct, dtype="float64")[order[:keep]].mean())


def calibration_report(pairs: Iterable[Tuple[object, object]], gold_entities: Optional[int] = None) -> Optional[Dict]:
    """ECE, reliability bins, threshold table and precision at 80% kept over
    (predicted, reference) doc pairs; None where no entity has a confidence."""
    pairs = list(pairs)
    scores, correct, _ = entity_outcomes(pairs)
    if not scores:
        return None
    if gold_entities is None:
        gold_entities = sum(len(ref.ents) for _, ref in pairs)
    return {
        "entities": len(scores),
        "ece": expected_calibration_error(scores, correct),
        "bins": reliability_bins(scores, correct),
        "thresholds": threshold_table(scores, correct, gold_entities),
        "precision_at_80": precision_at_share(scores, correct, 0.8),
        "precision_at_0": float(numpy.mean(correct)),
    }


def reliability_diagram(report: Dict, path: Path, title: str = "") -> Path:
    """The bins' accuracy against their mean confidence, with the diagonal and
    the entity counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    width = 1.0 / len(report["bins"])
    filled = [b for b in report["bins"] if b["count"]]
    ax.bar([b["low"] for b in filled], [b["accuracy"] for b in filled], width=width, align="edge",
           edgecolor="black", color="#4c78a8", label="accuracy")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("share of entities correct")
    ax.set_title(f"{title} ECE {report['ece']:.4f} ({report['entities']} entities)".strip(), fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    from med_ner.outputs import savefig

    try:
        savefig(fig, path, "reliability diagram")
    finally:
        plt.close(fig)
    return path


def markdown_section(report: Dict, diagram: Optional[str] = None) -> List[str]:
    """The report's calibration lines: ECE, precision at 80% kept, the threshold table."""
    lines = ["", f"Entity confidence: expected calibration error {report['ece']:.4f} over {report['entities']} "
             f"predicted entities ({N_BINS} equal-width bins; correct = exact span and label in the gold). "
             f"Precision of the 80% most confident entities {report['precision_at_80'] * 100:.2f}, of all "
             f"{report['precision_at_0'] * 100:.2f}."]
    if report.get("map"):
        lines += ["", map_summary(report["map"])]
    if diagram:
        lines += ["", f"![reliability diagram]({diagram})"]
    lines += ["", "| threshold | entities kept | share kept | precision | recall | F1 |",
              "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["thresholds"]:
        lines.append(f"| {row['threshold']:.1f} | {row['kept']} | {row['kept_share'] * 100:.1f}% | "
                     f"{row['p'] * 100:.2f} | {row['r'] * 100:.2f} | {row['f'] * 100:.2f} |")
    return lines


def map_description(calibrator: Calibrator) -> Dict:
    """The calibrator's method and info, and its fallback labels, without the fitted parameters."""
    fallback = calibrator.params.get("global_fit_labels")
    return {"method": calibrator.method, "info": calibrator.info,
            "params": {"global_fit_labels": fallback} if fallback is not None else {}}


def map_summary(calibrator: Dict) -> str:
    """One sentence on the pipeline's calibration map (a Calibrator's to_dict):
    which map, fitted on what, and, where measured, each map's CV ECE on dev."""
    info = calibrator.get("info") or {}
    line = f"Calibration map: {calibrator.get('method')}"
    if info.get("dev_entities") is not None:
        line += f", fitted on {info['dev_entities']} predicted dev entities"
    if info.get("dev"):
        line += f" of {info['dev']}"
    if info.get("restricted_to_annotated"):
        line += " (each corpus's entities of the labels it annotates only)"
    cv = {m: e for m, e in (info.get("cv_ece") or {}).items() if e is not None}
    if cv:
        figures = ", ".join(f"{m} {e:.4f}" for m, e in cv.items())
        how = "chosen by `--method auto`: lowest" if info.get("requested") == "auto" else "given by `--method`;"
        line += f"; {how} {info.get('folds')}-fold cross-validated dev ECE ({figures})"
    fallback = (calibrator.get("params") or {}).get("global_fit_labels")
    if calibrator.get("method") == "platt-label" and fallback:
        line += f"; labels on the global fit (too few dev entities): {', '.join(fallback)}"
    return line + "."
