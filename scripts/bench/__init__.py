"""The project's experiment harness (not part of the med_ner wheel): run
through `python scripts/benchmark.py`."""
import sys
from pathlib import Path

BENCHMARK_SCRIPT = Path(__file__).resolve().parents[1] / "benchmark.py"


def benchmark_command(*args: str) -> list:
    """A command line that runs `scripts/benchmark.py <args>` in a fresh process."""
    return [sys.executable, str(BENCHMARK_SCRIPT), *args]
