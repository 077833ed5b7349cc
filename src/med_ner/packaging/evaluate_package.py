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
