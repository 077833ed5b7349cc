
# ---- from corpus/split.py

def main(
    folder: Path = typer.Argument(..., help="Folder of BRAT .txt/.ann pairs"),
    output_dir: Path = typer.Argument(..., help="Where train.txt, dev.txt and test.txt go"),
    seed: int = typer.Option(13, "--seed", help="Seed for random.Random"),
    sizes: Tuple[int, int, int] = typer.Option((160, 20, 20), "--sizes", help="Documents in train, dev and test"),
):
    """Write a deterministic document-level train/dev/test split."""
    try:
        _, unpaired = document_stems(folder)
        paths = write_split(folder, output_dir, seed, sizes)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    if unpaired:
        typer.echo(f"left out (no partner file): {', '.join(unpaired)}")
    for name, path in paths.items():
        typer.echo(f"{name}: {sizes[SPLITS.index(name)]} documents -> {path}")


if __name__ == "__main__":
    typer.run(main)
