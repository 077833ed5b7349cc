
# ---- from pipeline/add_context.py

def main(
    model: str = typer.Argument(..., help="Trained pipeline (directory or package)"),
    train_path: Path = typer.Argument(..., help="Training DocBin; BRAT POLARITY attributes give the gold flags", exists=True),
    output: Path = typer.Argument(..., help="Directory for the pipeline with clinical_context"),
    triggers: Optional[Path] = typer.Option(None, "--triggers", help="Trigger JSON (default assets/context/<lang>.json)", exists=True),
    window: int = typer.Option(8, "--window", help="Scope of a trigger, in tokens"),
    use_model: bool = typer.Option(True, "--model/--rules-only", help="Fit classifiers where gold flags exist"),
):
    """Fit clinical_context on a training corpus and save the extended pipeline."""
    info = add_context(model, train_path, output, triggers, window, use_model)
    fitted = ", ".join(f"{k}: {v['features']} features, threshold {v['threshold']}" for k, v in info["classifiers"].items())
    typer.echo(f"clinical_context from {info['triggers']}; {info['annotated_documents']} training documents with "
               f"polarity annotation; classifiers: {fitted or 'none (rules only)'}; saved to {output}")


if __name__ == "__main__":
    typer.run(main)
