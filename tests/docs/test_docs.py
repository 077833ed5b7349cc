"""The README is a landing page, the results it shows are rendered from the records, and the documentation site
builds with every link and anchor resolved."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
WEASEL_START = "<!-- WEASEL: AUTO-GENERATED DOCS START (do not remove) -->"


def test_readme_is_short():
    text = README.read_text(encoding="utf-8")
    assert len(text.split("\n")) <= 250, "README.md is over 250 lines: move reference parts to docs/"
    assert len(text.encode("utf-8")) <= 15 * 1024, "README.md is over 15 KB: move reference parts to docs/"


def test_readme_ends_with_the_weasel_block():
    text = README.read_text(encoding="utf-8")
    assert WEASEL_START in text
    assert text.rstrip().endswith("<!-- WEASEL: AUTO-GENERATED DOCS END (do not remove) -->")


def test_results_are_rendered_from_the_records():
    result = subprocess.run([sys.executable, "scripts/render_results.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_results_check_fails_when_stale(tmp_path):
    """--check exits 1 when the README's table differs from what the records give."""
    import shutil

    for path in ["scripts", "benchmarks/release", "benchmarks/sample", "benchmarks/speed", "benchmarks/attributes", "docs"]:
        shutil.copytree(ROOT / path, tmp_path / path)
    stale = README.read_text(encoding="utf-8").replace("<!-- results:end -->", "| a stale row |\n<!-- results:end -->")
    (tmp_path / "README.md").write_text(stale, encoding="utf-8")
    result = subprocess.run([sys.executable, "scripts/render_results.py", "--check"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "README.md is stale" in result.stderr


def test_mkdocs_build_strict(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
