
# ---- from packaging/meta.py

def main(
    model_path: Path = typer.Argument(..., help="Trained pipeline directory (model-best)", exists=True),
    metrics_path: Path = typer.Argument(..., help="Test metrics JSON from evaluate.py", exists=True),
    output: Path = typer.Argument(..., help="meta.json to write"),
    name: str = typer.Option(..., "--name"),
    version: str = typer.Option(..., "--version"),
    description: str = typer.Option("", "--description"),
    license_name: str = typer.Option("MIT", "--license"),
    corpus: str = typer.Option(..., "--corpus", help="The corpus the pipeline was trained on (configs/corpora.yml)"),
    table: Path = typer.Option(Path("configs/corpora.yml"), "--table", help="Corpus table"),
    transformer: str = typer.Option(..., "--transformer", help="The transformer name the pipeline was trained from"),
    requirement: List[str] = typer.Option([], "--requirement", help="A pip requirement of the package (repeatable)"),
):
    """Write the package meta with test-split scores."""
    metrics = srsly.read_json(metrics_path)
    if metrics.get("split") != "test":
        typer.echo(f"error: {metrics_path} holds scores of the {metrics.get('split')!r} split, not 'test'", err=True)
        raise typer.Exit(1)
    source = srsly.read_yaml(table)[corpus]["source"]
    meta = build_meta(
        srsly.read_json(model_path / "meta.json"), metrics, name, version, description, license_name,
        {k: str(v) for k, v in source.items() if v}, transformer, list(requirement),
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, meta)
    typer.echo(f"wrote {output}: test F1 {metrics['ents_f'] * 100:.2f}, requirements {meta['requirements']}")


if __name__ == "__main__":
    typer.run(main)

# ---- from packaging/evaluate_package.py

def main(
    wheel: Path = typer.Argument(..., help="The built wheel", exists=True, dir_okay=False),
    data_path: Path = typer.Argument(..., help="Test DocBin", exists=True),
    expected: Path = typer.Argument(..., help="Metrics JSON of the trained pipeline on the same data", exists=True),
    output: Path = typer.Option(..., "--output", help="Metrics JSON of the installed package"),
    target: Path = typer.Option(..., "--target", help="Directory to install the wheel into (emptied first)"),
):
    """Install the wheel, load it by name offline and check its test scores."""
    package = wheel.name.split("-")[0]
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True,
    )
    reqs = wheel_requirements(target, package)
    typer.echo(f"{wheel.name} requires: {', '.join(map(str, reqs))}")
    unmet = unmet_requirements(reqs)
    if unmet:
        typer.echo(f"error: this environment does not satisfy the wheel's requirements: {unmet}", err=True)
        raise typer.Exit(1)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join([str(target.resolve())] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    check_origin = (
        "import importlib.util, sys; spec = importlib.util.find_spec(sys.argv[1]); "
        "print(spec.origin if spec else '')"
    )
    origin = subprocess.run([sys.executable, "-c", check_origin, package], env=env, capture_output=True, text=True,
                            check=True).stdout.strip()
    if not origin or not Path(origin).resolve().is_relative_to(target.resolve()):
        typer.echo(f"error: {package} resolves to {origin or 'nothing'}, not to the wheel in {target}", err=True)
        raise typer.Exit(1)
    evaluate_py = Path(__file__).with_name("evaluate.py").resolve()
    subprocess.run(
        [sys.executable, str(evaluate_py), package, str(data_path.resolve()), "--output", str(output.resolve()),
         "--split", "test"],
        env=env, check=True, cwd=str(target.resolve()),
    )
    got, want = srsly.read_json(output), srsly.read_json(expected)
    diffs = same_scores(want, got)
    if diffs:
        typer.echo(f"error: the installed package scores differently from the trained pipeline: {diffs}", err=True)
        raise typer.Exit(1)
    typer.echo(f"OK: installed {package} from {wheel.name} reproduces the test scores above")


if __name__ == "__main__":
    typer.run(main)
