"""The product speaks of the product: no work-session narration, no first person, no build machine's paths or
lock files in the README, the docs, benchmark READMEs, configs, code comments, docstrings or CLI help."""
import io
import re
import subprocess
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

RULES = {
    "work-session narration": re.compile(r"\b(this|last|next|previous|that|earlier|later|one|two|three) sessions?\b"
                                         r"|\bsessions? (ago|before)\b", re.IGNORECASE),
    "first person": re.compile(r"(?<![-/\w])(I|we|We|our|Our|us|Us|I'm|I've|we've|we're)(?![-/\w'])"),
    "machine path": re.compile(r"/wor[k]/|/tm[p]/run|/home/\w+/"),
    "lock file": re.compile(r"cpu\.lock|\bflock\b|CPU lock"),
}
PROSE = {".md", ".yml", ".yaml", ".cfg", ".txt", ".toml", ".ini"}


def tracked(*patterns: str):
    out = subprocess.run(["git", "ls-files", "-z", *patterns], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / p for p in out.decode().split("\0") if p]


def prose_files():
    files = tracked("README.md", "docs/*.md", "benchmarks/**/README.md", "benchmarks/README.md", "configs/*",
                    "project.yml", "mkdocs.yml", "pyproject.toml", "requirements*.txt", ".ci/*", "scripts/*")
    return [f for f in files if f.suffix in PROSE or f.name == "run"]


def python_text(path: Path):
    """(line, text) of a Python file's comments and string literals: docstrings, CLI help, messages."""
    source = path.read_text(encoding="utf-8")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.STRING):
            for offset, line in enumerate(token.string.split("\n")):
                yield token.start[0] + offset, line


def hits(lines):
    for number, line in lines:
        # Code spans, quoted single words ("I" as an IOB tag) and formulas (C + I + P) are not prose.
        prose = re.sub(r"`[^`]*`|^\s*[rbf]?[\"']\w*[\"'],?\s*$|\+ I \+", "", line)
        for rule, pattern in RULES.items():
            if pattern.search(prose):
                yield f"{number}: {rule}: {line.strip()[:120]}"


def check(path: Path, lines):
    found = list(hits(lines))
    assert not found, f"{path.relative_to(ROOT)}:\n" + "\n".join(found)


@pytest.mark.parametrize("path", prose_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_prose(path):
    check(path, enumerate(path.read_text(encoding="utf-8").split("\n"), 1))


@pytest.mark.parametrize("path", tracked("src/*.py", "scripts/*.py"), ids=lambda p: str(p.relative_to(ROOT)))
def test_code_comments_and_help(path):
    check(path, python_text(path))
