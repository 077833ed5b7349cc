"""Scores of the attribute components: attribute spans per type (exact and
overlap), links with gold spans (the relation model alone) against the
nearest-compatible-entity baseline, and links end to end."""
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy
from spacy.tokens import Doc

from med_ner.components.attribute_linker import LINK_SENTENCE_END, AttributeLinker, Link, gold_links, modifiers, predicted_links
from med_ner.components.clinical_context import sentence_ids
from med_ner.evaluation.metrics import bootstrap_f1


def _prf(tp: int, fp: int, fn: int) -> Dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0}


def _scores(per_doc: List[Tuple[Set, Set]]) -> Dict:
    counts = numpy.asarray([(len(g & p), len(p - g), len(g - p)) for g, p in per_doc], dtype="float64").reshape(-1, 3)
    tp, fp, fn = (int(x) for x in counts.sum(axis=0))
    return {**_prf(tp, fp, fn), "support": tp + fn, "predicted": tp + fp, "f_ci95": bootstrap_f1(counts)}


def span_set(doc: Doc, spans_key: str) -> Set[Tuple[int, int, str]]:
    return {(s.start_char, s.end_char, s.label_) for s in doc.spans.get(spans_key, [])}


def attribute_span_scores(pairs: Sequence[Tuple[Doc, Doc]], spans_key: str = "attributes") -> Dict:
    """Per attribute type and overall: exact P/R/F (with a 95% CI over documents)
    and overlap P/R/F (a span of the same type overlapping counts)."""
    gold = [span_set(g, spans_key) for g, _ in pairs]
    pred = [span_set(p, spans_key) for _, p in pairs]
    labels = sorted({s[2] for doc in gold + pred for s in doc})
    result = {"overall": {"exact": _scores(list(zip(gold, pred))), "overlap": _overlap(gold, pred)}}
    for label in labels:
        g = [{s for s in doc if s[2] == label} for doc in gold]
        p = [{s for s in doc if s[2] == label} for doc in pred]
        result[label] = {"exact": _scores(list(zip(g, p))), "overlap": _overlap(g, p)}
    return result


def _overlap(gold: List[Set], pred: List[Set]) -> Dict[str, float]:
    def hits(a: Set, b: Set) -> int:
        return sum(1 for s in a if any(t[2] == s[2] and t[0] < s[1] and s[0] < t[1] for t in b))
    found = sum(hits(p, g) for g, p in zip(gold, pred))
    recalled = sum(hits(g, p) for g, p in zip(gold, pred))
    n_pred, n_gold = sum(map(len, pred)), sum(map(len, gold))
    p = found / n_pred if n_pred else 0.0
    r = recalled / n_gold if n_gold else 0.0
    return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0}


def nearest_links(linker: AttributeLinker, doc: Doc) -> Set[Link]:
    """The baseline: each modifier linked to the nearest entity of a compatible label in its sentence."""
    sent = list(sentence_ids(doc, LINK_SENTENCE_END))
    links = set()
    for mod, kind in modifiers(doc, linker.spans_key, linker.site_label):
        heads = [e for e in doc.ents if e.label_ in linker.compatible.get(kind, ())
                 and not (e.start == mod.start and e.end == mod.end) and sent[e.start] == sent[mod.start]]
        if heads:
            head = min(heads, key=lambda h: (linker._distance(mod, h), h.start))
            links.add((mod.start_char, mod.end_char, head.start_char, head.end_char, kind))
    return links


def link_scores_with_gold_spans(linker: AttributeLinker, docs: Iterable[Doc]) -> Dict:
    """The relation model on gold entities and gold attribute spans, and the baseline, per type and overall."""
    rows = []
    for ref in docs:
        doc = linker(ref.copy())  # a copy: the linker writes extensions on it
        rows.append((gold_links(ref, linker.spans_key, linker.site_label), predicted_links(doc),
                     nearest_links(linker, ref)))
    return {"model": _by_type([(g, p) for g, p, _ in rows]), "baseline": _by_type([(g, b) for g, _, b in rows])}


def link_scores_end_to_end(pairs: Sequence[Tuple[Doc, Doc]], spans_key: str = "attributes",
                           site_label: str = "BODY_PART") -> Dict:
    """Predicted entities, attribute spans and links against gold: a link counts when both spans and the type match."""
    return _by_type([(gold_links(g, spans_key, site_label), predicted_links(p)) for g, p in pairs])


def _by_type(rows: List[Tuple[Set[Link], Set[Link]]]) -> Dict:
    kinds = sorted({link[4] for g, p in rows for link in g | p})
    result = {"overall": _scores(rows)}
    for kind in kinds:
        result[kind] = _scores([({x for x in g if x[4] == kind}, {x for x in p if x[4] == kind}) for g, p in rows])
    return result


def markdown(report: Dict) -> str:
    """Tables: attribute spans per type; links with gold spans vs the baseline; links end to end."""
    def pct(x):
        return f"{x * 100:.2f}"

    lines = ["| attribute | exact P | exact R | exact F1 | F1 95% CI | overlap F1 | gold |",
             "| --- | ---: | ---: | ---: | --- | ---: | ---: |"]
    for label, s in report["spans"].items():
        e, o = s["exact"], s["overlap"]
        lines.append(f"| {label} | {pct(e['p'])} | {pct(e['r'])} | {pct(e['f'])} | "
                     f"{pct(e['f_ci95'][0])}–{pct(e['f_ci95'][1])} | {pct(o['f'])} | {e['support']} |")
    lines += ["", "| link type | gold spans: F1 (95% CI) | nearest-entity baseline F1 | end to end F1 (95% CI) | gold |",
              "| --- | --- | ---: | --- | ---: |"]
    gold_spans, e2e = report["links_gold_spans"], report.get("links_end_to_end") or {}
    for kind, s in gold_spans["model"].items():
        b = gold_spans["baseline"].get(kind, {"f": 0.0})
        end = e2e.get(kind)
        end_cell = f"{pct(end['f'])} ({pct(end['f_ci95'][0])}–{pct(end['f_ci95'][1])})" if end else ""
        lines.append(f"| {kind} | {pct(s['f'])} ({pct(s['f_ci95'][0])}–{pct(s['f_ci95'][1])}) | {pct(b['f'])} | "
                     f"{end_cell} | {s['support']} |")
    return "\n".join(lines) + "\n"


def attribute_report(nlp, examples: Sequence) -> Optional[Dict]:
    """Attribute span and link scores of predicted examples; None when the
    pipeline has no attribute_linker or the gold data no links."""
    if "attribute_linker" not in nlp.pipe_names or not any(eg.reference.user_data.get("links") for eg in examples):
        return None
    linker = nlp.get_pipe("attribute_linker")
    pairs = [(eg.reference, eg.predicted) for eg in examples]
    return {"spans": attribute_span_scores(pairs, linker.spans_key),
            "links_gold_spans": link_scores_with_gold_spans(linker, [g for g, _ in pairs]),
            "links_end_to_end": link_scores_end_to_end(pairs, linker.spans_key, linker.site_label)}
