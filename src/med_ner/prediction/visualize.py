"""Render displaCy HTML of a pipeline's predictions on a DocBin (labels carry
the clinical_context flags and the entity's confidence where the pipeline has
entity_confidence, e.g. `SYMPTOM (negated) 0.87`), and a view of its
errors: each document where prediction and gold differ, shown both ways, with
the missed and spurious entities listed."""
import html
from pathlib import Path
from typing import List

from med_ner.prediction.records import confidence, context_flags

# Label suffixes for clinical_context's flags in the predictions view.
FLAG_SUFFIXES = ("", " (negated)", " (uncertain)", " (negated, uncertain)")


def shown_label(ent) -> str:
    """The label with negation/uncertainty and the confidence (2 decimals) where set."""
    flags = [name for name, on in (context_flags(ent) or {}).items() if on]
    label = ent.label_ + (f" ({', '.join(flags)})" if flags else "")
    score = confidence(ent)
    return label + (f" {score:.2f}" if score is not None else "")


def with_flags(doc) -> dict:
    """displaCy's manual format, with negation/uncertainty and confidence shown in the label."""
    ents = [{"start": ent.start_char, "end": ent.end_char, "label": shown_label(ent)} for ent in doc.ents]
    return {"text": doc.text, "ents": ents, "title": None}


def entity_set(doc):
    return {(e.start_char, e.end_char, e.label_) for e in doc.ents}


def render_errors(pairs, options) -> str:
    from spacy import displacy

    parts: List[str] = []
    n_err = 0
    for gold, pred in pairs:
        g, p = entity_set(gold), entity_set(pred)
        if g == p:
            continue
        n_err += 1
        missed = sorted(g - p)
        spurious = sorted(p - g)
        doc_id = html.escape(str(gold.user_data.get("id", "")))

        def items(spans):
            return "".join(
                f"<li><code>{html.escape(gold.text[s:e])}</code> {label} [{s}:{e}]</li>" for s, e, label in spans
            )

        parts.append(
            f"<section><h3>{doc_id}</h3>"
            f"<h4>gold</h4>{displacy.render(gold, style='ent', options=options, page=False)}"
            f"<h4>predicted</h4>{displacy.render(pred, style='ent', options=options, page=False)}"
            f"<p>missed (false negatives):</p><ul>{items(missed) or '<li>none</li>'}</ul>"
            f"<p>spurious or wrong (false positives):</p><ul>{items(spurious) or '<li>none</li>'}</ul></section><hr>"
        )
    head = f"<h2>{n_err} of {len(pairs)} documents have errors</h2>"
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>NER errors</title></head><body>{head}{''.join(parts)}</body></html>"


def write_views(nlp, data_path: Path, output_dir: Path, limit: int = 50) -> int:
    """predictions.html (the first `limit` documents, 0 = all) and errors.html
    of `nlp` on the gold DocBin; returns the number of documents shown."""
    from spacy import displacy
    from spacy.tokens import DocBin

    gold_docs = list(DocBin().from_disk(data_path).get_docs(nlp.vocab))
    pred_docs = list(nlp.pipe(d.text for d in gold_docs))
    labels = (list(nlp.get_pipe("ner").labels) if "ner" in nlp.pipe_names
              else sorted({e.label_ for d in gold_docs + pred_docs for e in d.ents}))
    palette = ["#f4a261", "#a8dadc", "#e9c46a", "#b5e48c", "#cdb4db", "#ffafcc", "#90e0ef", "#ddbea9"]
    options = {"ents": list(labels), "colors": {l: palette[i % len(palette)] for i, l in enumerate(labels)}}
    output_dir.mkdir(parents=True, exist_ok=True)
    shown = pred_docs[:limit] if limit else pred_docs
    flagged_options = {
        "ents": [f"{l}{suffix}" for l in labels for suffix in FLAG_SUFFIXES],
        "colors": {f"{l}{suffix}": c for l, c in options["colors"].items() for suffix in FLAG_SUFFIXES},
    }
    # Labels that carry a confidence are each their own displaCy label: same colour as their base label.
    for doc in shown:
        for ent in doc.ents:
            label = shown_label(ent)
            if label not in flagged_options["colors"]:
                flagged_options["ents"].append(label)
                flagged_options["colors"][label] = options["colors"].get(ent.label_, palette[0])
    from med_ner.outputs import output_group, write_text

    predictions = displacy.render([with_flags(d) for d in shown], style="ent", options=flagged_options, page=True,
                                  manual=True)
    errors = render_errors(list(zip(gold_docs, pred_docs)), options)
    with output_group():  # both views of one run, or the old pair
        write_text(output_dir / "predictions.html", predictions, "predictions view")
        write_text(output_dir / "errors.html", errors, "errors view")
    return len(shown)
