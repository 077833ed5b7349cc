"""Install the built wheel into a fresh target directory and score it again.

What users get is the wheel, not training/model-best: this loads it with
`spacy.load(<package name>)` offline, in a separate process that sees only the
target directory besides the environment's own packages, checks that the
environment satisfies the wheel's requirements, and fails unless the scores
equal the ones that went into the package meta.
"""
import os
import shutil
import subprocess
import sys
from email.parser import Parser
from importlib import metadata
from pathlib import Path
from typing import List

import srsly
import typer
from packaging.requirements import Requirement

sys.path.insert(0, str(Path(__file__).parent))
from evaluate import same_scores  # noqa: E402


def wheel_requirements(target: Path, package: str) -> List[Requirement]:
    dist_infos = list(target.glob(f"{package}-*.dist-info"))
    if len(dist_infos) != 1:
        raise RuntimeError(f"expected one {package} dist-info in {target}, found {dist_infos}")
    meta = Parser().parsestr((dist_infos[0] / "METADATA").read_text(encoding="utf-8"))
    return [Requirement(r) for r in meta.get_all("Requires-Dist") or []]


def unmet_requirements(requirements: List[Requirement]) -> List[str]:
    unmet = []
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            unmet.append(f"{req} (not installed)")
            continue
        if not req.specifier.contains(version, prereleases=True):
            unmet.append(f"{req} (installed: {version})")
    return unmet


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
