"""`scripts/benchmark.py service` end to end on a small pipeline: it starts the
service, runs the load at two concurrency levels, and writes the JSON and the table."""
import json
import subprocess
import sys

import pytest
from conftest import BENCHMARK
from service_helpers import ROOT, SAMPLE, ruler_pipeline


@pytest.mark.slow
def test_benchmark_service_writes_json_and_table(tmp_path):
    pipeline = ruler_pipeline(tmp_path / "pipeline")
    output = tmp_path / "bench" / "service.json"
    result = subprocess.run([sys.executable, BENCHMARK, "service", "--model", str(pipeline),
                             "--texts", str(SAMPLE / "test.jsonl"), "--concurrency", "1,4", "--requests", "60",
                             "--output", str(output)], capture_output=True, text=True, cwd=str(ROOT), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert [level["concurrency"] for level in report["levels"]] == [1, 4]
    for level in report["levels"]:
        assert level["statuses"] == {"200": 60} and level["requests"] == 60 and level["transport_errors"] == {}
        assert 0 < level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"]
        assert level["vs_offline"] > 0 and level["rss_mb"] > 0
    assert report["offline_documents_per_s"] > 0 and report["pipeline"] == ["entity_ruler", "clinical_context"]
    table = output.with_suffix(".md").read_text()
    assert "| clients | p50 ms | p95 ms | p99 ms | requests/s | docs/s | vs offline | statuses | RSS MB |" in table
    assert table in result.stdout


def test_benchmark_service_bad_concurrency(tmp_path):
    result = subprocess.run([sys.executable, BENCHMARK, "service", "--concurrency", "1,x"],
                            capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --concurrency: '1,x' is not a comma-separated list of numbers"
