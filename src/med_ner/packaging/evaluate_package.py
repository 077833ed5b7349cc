"""Install the built wheels into a fresh target directory and score the model again.

What users get is the wheels (the model en_med_ner and the med_ner library it
depends on), not training/model-best: this installs both, loads the model with
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
from typing import TYPE_CHECKING, Callable, List, Optional

import srsly
from packaging.requirements import Requirement

from med_ner.inference.loading import OFFLINE_ENV
from med_ner.evaluation.evaluate import same_scores

if TYPE_CHECKING:
    from med_ner.training.harmonise import CorpusLabels

# The import name of the library wheel, which the model wheel requires.
LIBRARY = "med_ner"


class PackageCheckError(Exception):
    pass


def wheel_requirements(target: Path, package: str) -> List[Requirement]:
    dist_infos = list(target.glob(f"{package}-*.dist-info"))
    if len(dist_infos) != 1:
        raise PackageCheckError(f"expected one {package} dist-info in {target}, found {dist_infos}")
    meta = Parser().parsestr((dist_infos[0] / "METADATA").read_text(encoding="utf-8"))
    return [Requirement(r) for r in meta.get_all("Requires-Dist") or []]


def unmet_requirements(requirements: List[Requirement], installed: Path) -> List[str]:
    """Requirements that neither this environment nor the wheels in `installed` satisfy."""
    unmet = []
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        found = list(metadata.distributions(path=[str(installed)], name=req.name))
        try:
            version = found[0].version if found else metadata.version(req.name)
        except metadata.PackageNotFoundError:
            unmet.append(f"{req} (not installed)")
            continue
        if not req.specifier.contains(version, prereleases=True):
            unmet.append(f"{req} (installed: {version})")
    return unmet


def resolves_into(module: str, target: Path, env: dict) -> str:
    """Where `module` is imported from in a process with `env` ('' if nowhere)."""
    check_origin = ("import importlib.util, sys; spec = importlib.util.find_spec(sys.argv[1]); "
                    "print(spec.origin if spec else '')")
    return subprocess.run([sys.executable, "-c", check_origin, module], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def write_harmonised(data_path: Path, labels: "CorpusLabels", output: Path) -> Path:
    """The DocBin with its gold labels mapped through one row of the
    harmonisation table (as `evaluate mix` scores it), written to `output`."""
    import spacy
    from spacy.tokens import DocBin

    from med_ner.training.mix import harmonised_docs

    docs = list(harmonised_docs(data_path, labels, spacy.blank("en").vocab))
    DocBin(docs=docs, store_user_data=True).to_disk(output)
    return output


def check_installed_package(wheels: List[Path], data_path: Path, expected: Path, output: Path, target: Path,
                            say: Callable[[str], None] = print, labels: Optional["CorpusLabels"] = None) -> str:
    """Install `wheels` (the model wheel first) into `target`, score the model
    by name in a fresh offline process, and compare with `expected`. `labels`
    (a harmonisation table row) maps the gold labels first."""
    model_wheel = wheels[0]
    package = model_wheel.name.split("-")[0]
    if target.exists():
        shutil.rmtree(target)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target",
                    str(target), *map(str, wheels)], check=True)
    if labels is not None:
        data_path = write_harmonised(data_path, labels, target / f"{data_path.stem}.{labels.name}-labels.spacy")
    reqs = wheel_requirements(target, package)
    say(f"{model_wheel.name} requires: {', '.join(map(str, reqs))}")
    unmet = unmet_requirements(reqs, target)
    if unmet:
        raise PackageCheckError(f"this environment does not satisfy the wheel's requirements: {unmet}")
    env = {**os.environ, **OFFLINE_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(target.resolve())] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    for module in [package] + ([LIBRARY] if len(wheels) > 1 else []):
        origin = resolves_into(module, target, env)
        if not origin or not Path(origin).resolve().is_relative_to(target.resolve()):
            raise PackageCheckError(f"{module} resolves to {origin or 'nothing'}, not to the wheel in {target}")
    subprocess.run(
        [sys.executable, "-m", "med_ner", "evaluate", "model", package, str(data_path.resolve()), "--output",
         str(output.resolve()), "--split", "test"],
        env=env, check=True, cwd=str(target.resolve()),
    )
    got, want = srsly.read_json(output), srsly.read_json(expected)
    diffs = same_scores(want, got)
    if diffs:
        raise PackageCheckError(f"the installed package scores differently from the trained pipeline: {diffs}")
    return f"OK: installed {package} from {model_wheel.name} reproduces the test scores above"
