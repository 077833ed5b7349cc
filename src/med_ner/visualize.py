"""Render displaCy HTML of a pipeline's predictions on a DocBin (labels carry
the clinical_context flags, e.g. `SYMPTOM (negated)`), and a view of its
errors: each document where prediction and gold differ, shown both ways, with
the missed and spurious entities listed."""
import html
from pathlib import Path
from typing import List, Optional

import typer

from cli_util import import_code


# Label suffixes for clinical_context's flags in the predictions view.
FLAG_SUFFIXES = ("", " (negated)", " (uncertain)", " (negated, uncertain)")


def with_flags(doc) -> dict:
    """displaCy's manual format, with negation/uncertainty shown in the label."""
    from predict import context_flags

    ents = []
    for ent in doc.ents:
        flags = [name for name, on in (context_flags(ent) or {}).items() if on]
        suffix = f" ({', '.join(flags)})" if flags else ""
        ents.append({"start": ent.start_char, "end": ent.end_char, "label": ent.label_ + suffix})
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
