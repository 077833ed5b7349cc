"""Render displaCy HTML of a pipeline's predictions on a DocBin (labels carry
the clinical_context flags and the entity's confidence where the pipeline has
entity_confidence, e.g. `SYMPTOM (negated) 0.87`), and a view of its
errors: each document where prediction and gold differ, shown both ways, with
the missed and spurious entities listed; where the pipeline links attributes,
a view of each entity's attributes as arcs (displaCy's dependency style)."""
import html
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from med_ner.components.attribute_extensions import ATTRIBUTES_KEY, SITE
from med_ner.prediction.records import attribute_name, confidence, context_flags, linked_attributes

# The most characters of plain text in one word of the attributes view (wider words overlap).
CHUNK_CHARS = 25

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


def has_attributes(doc) -> bool:
    """Whether an attribute component ran on the doc."""
    return ATTRIBUTES_KEY in doc.spans or any(linked_attributes(ent) is not None for ent in doc.ents)


def attribute_links(doc) -> List[Tuple[Tuple[int, int], Tuple[int, int], str]]:
    """(head offsets, modifier offsets, type) of every link: from the entities'
    attributes and from the attribute spans' `modifies`, once each."""
    links: Dict[Tuple[Tuple[int, int], Tuple[int, int]], str] = {}
    for ent in doc.ents:
        for a in linked_attributes(ent) or []:
            links.setdefault(((ent.start_char, ent.end_char), (a["start"], a["end"])), a["type"])
        if ent._.modifies is not None:  # a BODY_PART linked as a site
            links.setdefault(((int(ent._.modifies["start"]), int(ent._.modifies["end"])),
                              (ent.start_char, ent.end_char)), SITE)
    for span in doc.spans[ATTRIBUTES_KEY] if ATTRIBUTES_KEY in doc.spans else []:
        head = span._.modifies
        if head is not None:
            links.setdefault(((int(head["start"]), int(head["end"])), (span.start_char, span.end_char)), span.label_)
    return [(head, modifier, type_) for (head, modifier), type_ in links.items()]


def chunks(text: str, size: int = CHUNK_CHARS) -> List[str]:
    """Plain text as words of at most `size` characters (a longer single word stays whole)."""
    out: List[str] = []
    for word in text.split():
        if out and len(out[-1]) + 1 + len(word) <= size:
            out[-1] += " " + word
        else:
            out.append(word)
    return out


def links_view(doc, title: Optional[str] = None) -> dict:
    """displaCy's manual dependency format for one doc: the words are the
    entities and attribute spans (tag: the label) and the text between them in
    chunks (no tag); an arc goes from each head entity to each attribute or
    site that modifies it, labelled with the type ("Severity", "Site")."""
    spans = [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]
    attributes = doc.spans[ATTRIBUTES_KEY] if ATTRIBUTES_KEY in doc.spans else []
    spans += [(a.start_char, a.end_char, a.label_) for a in attributes
              if not any(a.start_char < e and s < a.end_char for s, e, _ in spans)]
    words, index, pos = [], {}, 0
    for start, end, label in sorted(spans):
        if start < pos:  # an attribute span overlapping an earlier one is not drawn
            continue
        words += [{"text": chunk, "tag": ""} for chunk in chunks(doc.text[pos:start])]
        index[(start, end)] = len(words)
        words.append({"text": doc.text[start:end], "tag": label})
        pos = end
    words += [{"text": chunk, "tag": ""} for chunk in chunks(doc.text[pos:])]
    arcs = []
    for head, modifier, type_ in attribute_links(doc):
        if head in index and modifier in index and index[head] != index[modifier]:
            h, m = index[head], index[modifier]
            arcs.append({"start": min(h, m), "end": max(h, m), "label": attribute_name(type_),
                         "dir": "right" if h < m else "left"})
    return {"words": words, "arcs": arcs, "title": title}


def render_links(docs, titles=None) -> str:
    """A page of links_view for each doc with any text."""
    from spacy import displacy

    titles = titles or [None] * len(docs)
    # displaCy escapes the words, not the titles (document ids from the data).
    parsed = [links_view(doc, None if title is None else html.escape(title)) for doc, title in zip(docs, titles)]
    parsed = [p for p in parsed if p["words"]]
    if not parsed:
        return "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body><p>no text</p></body></html>"
    return displacy.render(parsed, style="dep", manual=True, page=True,
                           options={"compact": True, "distance": 140, "add_lemma": False})


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


def write_views(nlp, data_path: Path, output_dir: Path, limit: int = 50) -> Tuple[int, bool]:
    """predictions.html (the first `limit` documents, 0 = all) and errors.html
    of `nlp` on the gold DocBin, and attributes.html (the same documents, links
    as arcs) where the pipeline makes attributes; returns the number of
    documents shown and whether attributes.html was written."""
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
    links = None
    if any(has_attributes(doc) for doc in shown):
        links = render_links(shown, [str(g.user_data.get("id", i)) for i, g in enumerate(gold_docs[:len(shown)])])
    with output_group():  # the views of one run, or the old ones
        write_text(output_dir / "predictions.html", predictions, "predictions view")
        write_text(output_dir / "errors.html", errors, "errors view")
        if links is not None:
            write_text(output_dir / "attributes.html", links, "attributes view")
    return len(shown), links is not None
