
# ---- from benchmark/context.py

def main(
    model: Path = typer.Argument(..., help="Pipeline with clinical_context (e.g. training/MACCROBAT/model-final)", exists=True),
    data_path: Path = typer.Argument(..., help="Test DocBin with gold entities and BRAT polarity", exists=True),
    output: Path = typer.Option(..., "--output", help="Results JSON; the markdown goes beside it (.md)"),
    medspacy_python: Optional[Path] = typer.Option(None, "--medspacy-python",
                                                   help="Python of a venv with medspacy==1.3.1 (`spacy project run setup-medspacy`)"),
    end_to_end: bool = typer.Option(True, "--end-to-end/--gold-only", help="Also score on predicted entities"),
    code: Optional[str] = typer.Option(None, "--code", help="Python files with registered functions, comma-separated"),
):
    """Score our negation/uncertainty flags next to negspacy and medspaCy."""
    import spacy
    from spacy.tokens import DocBin

    import_code(code)
    if medspacy_python is not None and not medspacy_python.exists():
        typer.echo(f"error: {medspacy_python} not found: run `spacy project run setup-medspacy` first, "
                   "or leave out --medspacy-python to skip the medspaCy row", err=True)
        raise typer.Exit(1)
    nlp = spacy.load(model)
    if "clinical_context" not in nlp.pipe_names:
        typer.echo(f"error: {model} has no clinical_context component (run the `context` step)", err=True)
        raise typer.Exit(1)
    gold_docs = list(DocBin().from_disk(data_path).get_docs(nlp.vocab))
    if not any("ent_attrs" in d.user_data for d in gold_docs):
        typer.echo(f"error: {data_path} has no polarity annotation (BRAT POLARITY attributes)", err=True)
        raise typer.Exit(1)
    result: Dict = {"model": str(model), "data": str(data_path), "documents": len(gold_docs), "seconds": {}}

    def systems_on(docs, setting):
        out = {}
        for name, run in (("en_med_ner clinical_context", lambda: run_ours(nlp, docs)),
                          ("negspacy 1.1.0 (en_clinical)", lambda: run_negspacy(docs)),
                          ("medspaCy 1.3.1 ConText", (lambda: run_medspacy(docs, medspacy_python)) if medspacy_python else None)):
            if run is None:
                continue
            start = time.perf_counter()
            out[name] = run()
            result["seconds"][f"{setting}/{name}"] = round(time.perf_counter() - start, 2)
        return out

    result["gold"] = score_setting(gold_docs, gold_docs, systems_on(gold_docs, "gold"))
    if end_to_end:
        predicted = list(nlp.pipe(d.text for d in gold_docs))
        block = score_setting(gold_docs, predicted, systems_on(predicted, "end_to_end"))
        block["predicted_entities"] = sum(len(d.ents) for d in predicted)
        result["end_to_end"] = block
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, result)
    table = markdown(result)
    output.with_suffix(".md").write_text(table, encoding="utf-8")
    typer.echo(table)


if __name__ == "__main__":
    typer.run(main)
