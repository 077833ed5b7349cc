"""Run medspaCy's ConText (default rules) over given documents and entities.

Runs inside its own virtual environment (medspaCy 1.3.1 needs spaCy < 3.8), so
it imports nothing from this project. Reads JSONL lines
`{"words", "spaces", "sent_starts", "ents": [[start_token, end_token, label], ...]}`
and writes one line per document: `{"flags": [[is_negated, is_uncertain], ...]}`.
"""
import json
import sys


def main(input_path: str, output_path: str) -> None:
    import medspacy  # noqa: F401  (registers the medspacy_context factory)
    import spacy
    from spacy.tokens import Doc, Span

    nlp = spacy.blank("en")
    context = nlp.add_pipe("medspacy_context")
    n_in = n_out = 0
    with open(input_path, encoding="utf-8") as src, open(output_path, "w", encoding="utf-8") as out:
        for line in src:
            record = json.loads(line)
            n_in += 1
            doc = Doc(nlp.vocab, words=record["words"], spaces=record["spaces"], sent_starts=record["sent_starts"])
            doc.ents = [Span(doc, s, e, label=label) for s, e, label in record["ents"]]
            doc = context(doc)
            out.write(json.dumps({"flags": [[bool(e._.is_negated), bool(e._.is_uncertain)] for e in doc.ents]}) + "\n")
            n_out += 1
    if n_in != n_out:
        sys.exit(f"medspacy_context: {n_in} documents in, {n_out} out")


if __name__ == "__main__":
    main(*sys.argv[1:3])
