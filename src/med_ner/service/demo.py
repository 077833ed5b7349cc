"""A Gradio app to try a NER pipeline: type clinical text, see the entities
highlighted and listed, with each entity's confidence when the pipeline has
entity_confidence, negation/uncertainty flags when it has clinical_context,
vocabulary ids and names when it has terminology_linker, and each entity's
linked attributes (values, doses, severity, site...) when the pipeline links
them; attribute mentions are highlighted with their label.

Text is only ever shown as text (HighlightedText and a table), so HTML or
script tags in the input are displayed, never run. Input over `--max-chars`
gets a message instead of being processed.
"""
from typing import List, Optional, Tuple

from med_ner.components.attribute_extensions import ATTRIBUTES_KEY
from med_ner.prediction.records import attribute_name, confidence, context_flags, link_fields, linked_attributes

EXAMPLES = [
    "she was suffering from Malaria and fits so to cure she used amodiaquine and she has slightly fever and pain on hip",
    "The patient denies chest pain. A CT scan of the abdomen showed no evidence of appendicitis.",
    "Metformin was discontinued after she developed lactic acidosis; pneumonia was suspected on chest X-ray.",
]
COLUMNS = ["text", "label", "start", "end", "confidence", "negated", "uncertain", "attributes", "id", "name"]


def attributes_cell(ent) -> str:
    """`Severity: severe; Site: chest`, or "" where the entity has no linked attributes."""
    return "; ".join(f"{attribute_name(a['type'])}: {a['text']}" for a in linked_attributes(ent) or [])


def highlighted_spans(doc) -> list:
    """(start, end, shown label) of the entities and of the attribute spans that
    overlap no entity, in text order."""
    spans = []
    for ent in doc.ents:
        shown = [name for name, on in (context_flags(ent) or {}).items() if on]
        spans.append((ent.start_char, ent.end_char, ent.label_ + (f" ({', '.join(shown)})" if shown else "")))
    if ATTRIBUTES_KEY in doc.spans:
        taken = [(s, e) for s, e, _ in spans]
        spans += [(a.start_char, a.end_char, a.label_) for a in doc.spans[ATTRIBUTES_KEY]
                  if not any(a.start_char < e and s < a.end_char for s, e in taken)]
    spans.sort()
    kept, end = [], 0
    for span in spans:  # attribute spans may overlap each other: the first one wins
        if span[0] >= end:
            kept.append(span)
            end = span[1]
    return kept


def analyse(nlp, text: str, max_chars: int) -> Tuple[List[Tuple[str, Optional[str]]], List[list], str]:
    """Highlighted segments, table rows and a status message for one input."""
    if not text or not text.strip():
        return [], [], "Type or paste some text."
    if len(text) > max_chars:
        return [], [], (f"The text has {len(text):,} characters; this demo takes at most {max_chars:,}. "
                        "Use `med-ner annotate` for long documents and corpora.")
    doc = nlp(text)
    segments, pos = [], 0
    for start, end, label in highlighted_spans(doc):
        if start > pos:
            segments.append((text[pos:start], None))
        segments.append((text[start:end], label))
        pos = end
    if pos < len(text):
        segments.append((text[pos:], None))
    rows = []
    for ent in doc.ents:
        flags = context_flags(ent)
        link = link_fields(ent)
        score = confidence(ent)
        rows.append([ent.text, ent.label_, ent.start_char, ent.end_char,
                     "" if score is None else f"{score:.2f}",
                     "" if flags is None else str(flags["negated"]).lower(),
                     "" if flags is None else str(flags["uncertain"]).lower(), attributes_cell(ent),
                     link.get("id", "ambiguous: " + " | ".join(link["candidates"]) if "candidates" in link else ""),
                     link.get("name", "")])
    found = f"{len(rows)} entities"
    if ATTRIBUTES_KEY in doc.spans:
        found += f", {len(doc.spans[ATTRIBUTES_KEY])} attributes"
    return segments, rows, found + "."


def build_app(nlp, max_chars: int, title: str):
    import gradio as gr

    # System fonts: the default theme would fetch Google Fonts, which an offline machine cannot reach.
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"])
    with gr.Blocks(title=title, theme=theme, analytics_enabled=False) as app:
        gr.Markdown(f"## {title}\nEntities found by `{nlp.meta.get('name', 'pipeline')}` "
                    f"({', '.join(nlp.pipe_names)}). Up to {max_chars:,} characters.")
        text = gr.Textbox(label="Clinical text", lines=5, elem_id="input-text", max_length=None)
        button = gr.Button("Find entities", variant="primary", elem_id="submit")
        status = gr.Markdown(elem_id="status")
        highlighted = gr.HighlightedText(label="Entities", elem_id="highlighted", combine_adjacent=False,
                                         show_legend=True)
        table = gr.Dataframe(headers=COLUMNS, label="Entity table", elem_id="entity-table", interactive=False)
        gr.Examples(examples=[[e] for e in EXAMPLES], inputs=[text])

        def run(value):
            import pandas

            segments, rows, message = analyse(nlp, value, max_chars)
            return segments, pandas.DataFrame(rows, columns=COLUMNS), message

        button.click(run, inputs=[text], outputs=[highlighted, table, status])
        text.submit(run, inputs=[text], outputs=[highlighted, table, status])
    return app
