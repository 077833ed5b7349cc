"""Print the entities a pipeline finds in text.

Text comes from the argument, from --file, or from standard input; with --lines
each line of the input is a separate text. Output is one line per entity,
`Entity: <text>, Label: <LABEL>` (followed by `, Negated` and/or
`, Uncertain` when the pipeline's clinical_context flags the entity), or with --json one JSON object per text.
"""
import json
import sys
from pathlib import Path
from typing import Iterable, List, Optional

import typer

from cli_util import load_pipeline


def context_flags(ent) -> Optional[dict]:
    """Negation/uncertainty flags if the pipeline's clinical_context set them."""
    if not ent.has_extension("context_cues") or ent._.context_cues is None:
        return None
    return {"negated": ent._.is_negated, "uncertain": ent._.is_uncertain}


def entity_records(doc) -> List[dict]:
    records = []
    for ent in doc.ents:
        record = {"start": ent.start_char, "end": ent.end_char, "label": ent.label_, "text": ent.text}
        record.update(context_flags(ent) or {})
        records.append(record)
    return records


def read_texts(text: Optional[str], file: Optional[Path], lines: bool) -> List[str]:
    if text is not None and file is not None:
        raise typer.BadParameter("give the text as an argument or with --file, not both")
    if text is not None and text != "-":
        raw = text
    elif file is not None:
        raw = file.read_text(encoding="utf-8")
    else:
        raw = sys.stdin.read()
    texts = [t for t in raw.splitlines() if t.strip()] if lines else [raw]
    return [t for t in texts if t.strip()]


def format_entities(docs: Iterable, as_json: bool) -> Iterable[str]:
    for doc in docs:
        if as_json:
            yield json.dumps({"text": doc.text, "ents": entity_records(doc)}, ensure_ascii=False)
        else:
            for ent in doc.ents:
                flags = context_flags(ent) or {}
                yield f"Entity: {ent.text}, Label: {ent.label_}" + "".join(
                    f", {name.capitalize()}" for name, on in flags.items() if on
                )


def main(
    text: Optional[str] = typer.Argument(None, help="Text to tag; '-' or nothing reads standard input"),
    model: str = typer.Option("en_med_ner", "--model", "-m", help="Pipeline directory or package name"),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Read the text from this file", exists=True),
    lines: bool = typer.Option(False, "--lines", help="Each input line is a separate text"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per text"),
    code: Optional[str] = typer.Option(None, "--code", help="Python files with registered functions, comma-separated"),
    cpu_int8: bool = typer.Option(False, "--cpu-int8", help="Int8 transformer inference on CPU (faster; see README)"),
):
    """Tag text with a NER pipeline."""
    texts = read_texts(text, file, lines)
    nlp = load_pipeline(model, code, cpu_int8)
    for line in format_entities(nlp.pipe(texts), as_json):
        typer.echo(line)


if __name__ == "__main__":
    typer.run(main)
