"""Print the entities a pipeline finds in text.

Text comes from the argument, from --file, or from standard input; with --lines
each line of the input is a separate text (one output per line, blank lines
included). Output is one line per entity, `Entity: <text>, Label: <LABEL>`
(followed by `, Id: <id>, Name: <canonical name>` when terminology_linker
linked it, `, Confidence: <0-1>` when entity_confidence scored it, and
`, Negated` and/or `, Uncertain` when the pipeline's
clinical_context flags the entity, then `, <Type>: <text>` for each attribute
an attribute linker attached, e.g. `, Severity: severe, Site: chest`), or with
--json one JSON object per text ("attributes" beside "ents" where the pipeline
finds attribute spans).
"""
import json
import sys
from pathlib import Path
from typing import Iterable, List, Optional

from med_ner.corpus.reading import ConversionError, check_encodable, check_length, decode_utf8, read_bytes, split_lines
from med_ner.prediction.records import (attribute_name, confidence, context_flags, document_record, link_fields,
                                       linked_attributes)


def read_texts(text: Optional[str], file: Optional[Path], lines: bool) -> List[str]:
    """The texts to tag, read and checked before any model loads. With `lines`,
    every line is a text (lines end at \n or \r\n only; blank and
    whitespace-only lines are texts too, with no entities), so that output N
    belongs to input line N. Empty standard input or an empty file is an error."""
    if text is not None and file is not None:
        raise ValueError("give the text as an argument or with --file, not both")
    if text is not None and text != "-":
        raw, source = check_encodable(text, "the text argument"), "the text argument"
    else:
        source = str(file) if file is not None else "<stdin>"
        if file is not None:
            data = read_bytes(file)
        else:
            stream = getattr(sys.stdin, "buffer", None)
            data = stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
        raw = decode_utf8(data, source)
        if not raw:
            raise ConversionError(source, "no text to tag")
    if not lines:
        return [raw]
    texts = split_lines(raw)
    if not texts:
        raise ConversionError(source, "no lines to tag")
    return texts


def check_lengths(texts: List[str], max_length: int, lines: bool) -> None:
    """Every text fits the pipeline's max_length, checked before any is tagged."""
    for i, text in enumerate(texts, start=1):
        check_length(text, max_length, "input", line=i if lines else None)


def format_entities(docs: Iterable, as_json: bool) -> Iterable[str]:
    for doc in docs:
        if as_json:
            yield json.dumps({"text": doc.text, **document_record(doc)}, ensure_ascii=False)
        else:
            for ent in doc.ents:
                yield entity_line(ent)


def entity_line(ent) -> str:
    """`Entity: X, Label: Y`, then `, Id: Z, Name: N` where the entity is linked
    (`, Candidates: A | B` where its vocabulary match is ambiguous), then
    `, Negated` / `, Uncertain` where clinical_context flags it, then each linked
    attribute as `, Severity: severe` (`, Lab value: 7.2 g/dL`, `, Site: chest`)."""
    link = link_fields(ent)
    line = f"Entity: {ent.text}, Label: {ent.label_}"
    if "id" in link:
        line += f", Id: {link['id']}" + (f", Name: {link['name']}" if "name" in link else "")
    if "candidates" in link:
        line += ", Candidates: " + " | ".join(link["candidates"])
    score = confidence(ent)
    if score is not None:
        line += f", Confidence: {score:.2f}"
    flags = context_flags(ent) or {}
    line += "".join(f", {name.capitalize()}" for name, on in flags.items() if on)
    return line + "".join(f", {attribute_name(a['type'])}: {a['text']}" for a in linked_attributes(ent) or [])
