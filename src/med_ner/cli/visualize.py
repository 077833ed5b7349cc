
# ---- from visualize.py

def main(
    model: str = typer.Argument(..., help="Pipeline directory or package name"),
    data_path: Path = typer.Argument(..., help="DocBin with gold entities", exists=True),
    output_dir: Path = typer.Argument(..., help="Directory for predictions.html and errors.html"),
    limit: int = typer.Option(50, "--limit", help="Documents in predictions.html (0 = all)"),
    code: Optional[str] = typer.Option(None, "--code", help="Python files with registered functions, comma-separated"),
):
    """Write displaCy views of predictions and errors."""
    import spacy
    from spacy import displacy
    from spacy.tokens import DocBin

    import_code(code)
    nlp = spacy.load(model)
    gold_docs = list(DocBin().from_disk(data_path).get_docs(nlp.vocab))
    pred_docs = list(nlp.pipe(d.text for d in gold_docs))
    if "ner" in nlp.pipe_names:
        labels = list(nlp.get_pipe("ner").labels)
    else:
        labels = sorted({e.label_ for d in gold_docs + pred_docs for e in d.ents})
    palette = ["#f4a261", "#a8dadc", "#e9c46a", "#b5e48c", "#cdb4db", "#ffafcc", "#90e0ef", "#ddbea9"]
    options = {"ents": list(labels), "colors": {l: palette[i % len(palette)] for i, l in enumerate(labels)}}
    output_dir.mkdir(parents=True, exist_ok=True)
    shown = pred_docs[:limit] if limit else pred_docs
    flagged_options = {
        "ents": [f"{l}{suffix}" for l in labels for suffix in FLAG_SUFFIXES],
        "colors": {f"{l}{suffix}": c for l, c in options["colors"].items() for suffix in FLAG_SUFFIXES},
    }
    (output_dir / "predictions.html").write_text(
        displacy.render([with_flags(d) for d in shown], style="ent", options=flagged_options, page=True, manual=True),
        encoding="utf-8",
    )
    (output_dir / "errors.html").write_text(render_errors(list(zip(gold_docs, pred_docs)), options), encoding="utf-8")
    typer.echo(f"wrote {output_dir / 'predictions.html'} ({len(shown)} documents) and {output_dir / 'errors.html'}")


if __name__ == "__main__":
    typer.run(main)
