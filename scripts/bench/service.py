"""Load on the HTTP service: concurrent clients, latency percentiles and
throughput, set against offline nlp.pipe on the same texts.

`run_load` is the load generator (the service tests use it too);
`benchmark_service` starts `med-ner serve` in its own process, runs the load at
a few concurrency levels and writes benchmarks/service/load.json and .md."""
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence


@dataclass
class LoadResult:
    concurrency: int
    requests: int
    documents: int
    seconds: float
    statuses: Dict[int, int]
    # Latency of every answered request, in milliseconds, in the order requests were sent.
    latencies_ms: List[float] = field(repr=False)
    answers: List[int] = field(repr=False)  # answers per request: 1 each when nothing is lost or doubled
    transport_errors: Dict[str, int] = field(default_factory=dict)
    # With keep_responses: each request's decoded JSON answer (None where none came).
    responses: Optional[List] = field(default=None, repr=False)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def documents_per_s(self) -> float:
        return self.documents / self.seconds

    def summary(self) -> Dict:
        return {"concurrency": self.concurrency, "requests": self.requests, "documents": self.documents,
                "seconds": round(self.seconds, 3), "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "transport_errors": self.transport_errors,
                "p50_ms": round(self.percentile(50), 2), "p95_ms": round(self.percentile(95), 2),
                "p99_ms": round(self.percentile(99), 2), "requests_per_s": round(self.requests_per_s, 1),
                "documents_per_s": round(self.documents_per_s, 1)}


def run_load(url: str, bodies: Sequence[dict], concurrency: int, headers: Optional[dict] = None,
             timeout: float = 120, keep_responses: bool = False) -> LoadResult:
    """POST each of `bodies` to url/v1/entities once, from `concurrency` clients
    (threads, each with its own keep-alive connection) that each send their next
    request as soon as the last is answered. The clients are the standard
    library's http.client: about 0.2 ms of CPU a request here, against 2.6 ms
    for httpx's async client, which on a small machine took CPU from the service."""
    address = urllib.parse.urlsplit(url)
    send_headers = {"Content-Type": "application/json", **(headers or {})}
    latencies: List[Optional[float]] = [None] * len(bodies)
    answers = [0] * len(bodies)
    responses: List = [None] * len(bodies)
    statuses: Counter = Counter()
    errors: Counter = Counter()
    lock = threading.Lock()
    next_index = iter(range(len(bodies)))  # shared: every request is sent by exactly one client

    def client() -> None:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)
        try:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                payload = json.dumps(bodies[index]).encode()
                started = time.perf_counter()
                try:
                    connection.request("POST", "/v1/entities", body=payload, headers=send_headers)
                    response = connection.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException) as err:
                    with lock:
                        errors[type(err).__name__] += 1
                    connection.close()  # the next request opens a new connection
                    continue
                latencies[index] = 1000 * (time.perf_counter() - started)
                with lock:
                    answers[index] += 1
                    statuses[response.status] += 1
                if keep_responses:
                    responses[index] = json.loads(data)
        finally:
            connection.close()

    clients = [threading.Thread(target=client, name=f"load-client-{i}") for i in range(concurrency)]
    started = time.perf_counter()
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    seconds = time.perf_counter() - started
    documents = sum(len(body.get("texts") or body.get("documents") or [None]) for body in bodies)
    return LoadResult(concurrency, len(bodies), documents, seconds, dict(statuses),
                      [ms for ms in latencies if ms is not None], answers, dict(errors),
                      responses if keep_responses else None)


def offline_documents_per_s(nlp, texts: Sequence[str], batch_size: int) -> float:
    """Documents a second of nlp.pipe over `texts`, with entity_records as the service makes them."""
    from med_ner.prediction.records import entity_records

    started = time.perf_counter()
    for doc in nlp.pipe(texts, batch_size=batch_size):
        entity_records(doc)
    return len(texts) / (time.perf_counter() - started)


def mixed_texts(texts: Sequence[str], count: int) -> List[str]:
    """`count` texts of mixed length cut from `texts`: a sentence, a document,
    two documents joined, in turn."""
    out: List[str] = []
    for i in range(count):
        text = texts[i % len(texts)]
        kind = i % 3
        if kind == 0:
            text = text.split(". ")[0] + "."
        elif kind == 2:
            text = text + " " + texts[(i + 1) % len(texts)]
        out.append(text)
    return out


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, alive: Callable[[], bool], seconds: float = 300) -> None:
    """Poll url/ready until it answers 200; RuntimeError if `alive()` turns False or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the service stopped before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet, or 503 (HTTPError) while the model loads
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service at {url} was not ready after {seconds:g} s")


def benchmark_service(model: str, texts: Sequence[str], concurrencies: Sequence[int], requests: int,
                      output: Path, code: Optional[str] = None, threads: int = 0,
                      batch_size: int = 32, inference: Optional[str] = None) -> Dict:
    """Start `med-ner serve --model model`, warm it up, run `requests` single-text
    requests at each concurrency, and set each against offline nlp.pipe in this process."""
    from med_ner.inference.loading import load_pipeline

    about = machine()
    load_texts = mixed_texts(texts, requests)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "med_ner", "serve", "--model", model, "--port", str(port),
               "--max-batch-size", str(batch_size), "--threads", str(threads), "--log-level", "warning"]
    command += (["--code", code] if code else []) + (["--inference", inference] if inference else [])
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(url, lambda: process.poll() is None)
        run_load(url, [{"text": t} for t in load_texts[:200]], max(concurrencies))  # warm-up (at most 200 requests)
        rss_warm = rss_mb(process.pid)
        rows = []
        for concurrency in concurrencies:
            result = run_load(url, [{"text": t} for t in load_texts], concurrency)
            rows.append(dict(result.summary(), rss_mb=round(rss_mb(process.pid), 1)))
        rss_after = rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
    # Offline after the service stopped, so the two never share the CPU.
    nlp = load_pipeline(model, code, threads=threads, inference=inference)
    offline_documents_per_s(nlp, load_texts[:200], batch_size)  # warm-up
    offline = offline_documents_per_s(nlp, load_texts, batch_size)
    for row in rows:
        row["vs_offline"] = round(row["documents_per_s"] / offline, 3)
    result = {"model": model, "pipeline": nlp.pipe_names, "requests_per_level": requests,
              "texts": {"count": len(load_texts), "mean_chars": round(sum(map(len, load_texts)) / len(load_texts), 1)},
              "offline_documents_per_s": round(offline, 1), "max_batch_size": batch_size,
              "inference": inference,
              "rss_mb": {"after_warm_up": round(rss_warm, 1), "after_run": round(rss_after, 1)},
              "levels": rows, "machine": about}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    output.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    return result


def machine() -> Dict:
    import spacy
    import torch

    # The load average says how much else ran: on a shared machine it moves every number here.
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "spacy": spacy.__version__, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "load_average_1m": round(os.getloadavg()[0], 2)}


def markdown(result: Dict) -> str:
    lines = [f"Service load on `{result['model']}` ({', '.join(result['pipeline'])}): "
             f"{result['requests_per_level']:,} single-text requests a level, texts of "
             f"{result['texts']['mean_chars']:.0f} characters on average; offline nlp.pipe "
             f"(batch {result['max_batch_size']}) {result['offline_documents_per_s']:.1f} docs/s. "
             f"RSS {result['rss_mb']['after_warm_up']:.0f} MB after warm-up, "
             f"{result['rss_mb']['after_run']:.0f} MB after the run.", "",
             "| clients | p50 ms | p95 ms | p99 ms | requests/s | docs/s | vs offline | statuses | RSS MB |",
             "|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for row in result["levels"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in row["statuses"].items())
        lines.append(f"| {row['concurrency']} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {row['p99_ms']:.1f} | "
                     f"{row['requests_per_s']:.1f} | {row['documents_per_s']:.1f} | {row['vs_offline']:.0%} | "
                     f"{statuses} | {row['rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"
