"""`serve`: the HTTP service (POST /v1/entities, /health, /ready, /v1/model, /docs);
`benchmark-service`: its latency and throughput under load."""
import logging
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError

from med_ner.cli.app import app, fail, inference_option
from med_ner.service.settings import ServiceSettings

DEFAULT = ServiceSettings()  # the options' defaults are the settings' own

# Settings whose option is not simply --<setting-name>.
OPTION_OF_SETTING = {"max_queued_documents": "--max-queued", "request_timeout_s": "--request-timeout",
                     "drain_timeout_s": "--drain-timeout"}
LOG_LEVELS = ("debug", "info", "warning", "error")


@app.command("serve")
def serve_command(
    model: str = typer.Option(DEFAULT.model, "--model", "-m", help="Pipeline directory or installed package"),
    host: str = typer.Option(DEFAULT.host, "--host", help="Address to listen on (0.0.0.0 for every interface)"),
    port: int = typer.Option(DEFAULT.port, "--port", help="Port to listen on"),
    code: Optional[str] = typer.Option(None, "--code", help="Python files with registered functions, comma-separated"),
    cpu_int8: bool = typer.Option(False, "--cpu-int8", help="Int8 transformer inference on CPU"),
    inference: Optional[str] = inference_option(),
    threads: int = typer.Option(DEFAULT.threads, "--threads", help="torch threads (0: torch's default)"),
    max_batch_size: int = typer.Option(DEFAULT.max_batch_size, "--max-batch-size",
                                       help="Most documents in one nlp.pipe batch"),
    max_wait_ms: float = typer.Option(DEFAULT.max_wait_ms, "--max-wait-ms",
                                      help="How long a batch waits for more documents"),
    max_queued: int = typer.Option(DEFAULT.max_queued_documents, "--max-queued",
                                   help="Documents waiting for the model; beyond: 503"),
    max_chars_per_text: int = typer.Option(DEFAULT.max_chars_per_text, "--max-chars-per-text",
                                           help="Longest text (413 beyond)"),
    max_chars_per_request: int = typer.Option(DEFAULT.max_chars_per_request, "--max-chars-per-request",
                                              help="Characters of all texts"),
    max_texts_per_request: int = typer.Option(DEFAULT.max_texts_per_request, "--max-texts-per-request",
                                              help="Texts in one request"),
    request_timeout: float = typer.Option(DEFAULT.request_timeout_s, "--request-timeout",
                                          help="Seconds a request may wait (504 beyond)"),
    drain_timeout: float = typer.Option(DEFAULT.drain_timeout_s, "--drain-timeout",
                                        help="Seconds in-flight requests get at shutdown"),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="MED_NER_API_KEY",
                                          help="Require this key in the X-API-Key header (better set by the "
                                               "environment variable than on the command line)"),
    demo: bool = typer.Option(False, "--demo", help="Also serve the Gradio demo at /demo"),
    log_text: bool = typer.Option(False, "--log-text", help="Log submitted texts at debug level (they are PHI)"),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error"),
):
    """Serve a pipeline over HTTP until SIGTERM/Ctrl-C (then in-flight requests finish, new ones get 503)."""
    from med_ner.inference.loading import PipelineError
    from med_ner.service import serve

    try:
        settings = ServiceSettings(
            model=model, host=host, port=port, code=code, inference=inference or ("int8" if cpu_int8 else None), threads=threads,
            max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_queued_documents=max_queued,
            max_chars_per_text=max_chars_per_text, max_chars_per_request=max_chars_per_request,
            max_texts_per_request=max_texts_per_request, request_timeout_s=request_timeout,
            drain_timeout_s=drain_timeout, api_key=api_key, demo=demo, log_text=log_text)
    except ValidationError as err:
        first = err.errors()[0]
        setting = str(first["loc"][0])
        message = first["msg"].removeprefix("Value error, ")
        fail(f"{OPTION_OF_SETTING.get(setting, '--' + setting.replace('_', '-'))}: {message}")
    if log_level not in LOG_LEVELS:
        fail(f"--log-level: {log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(message)s")
    try:
        service = serve(settings, log_level=log_level)
    except PipelineError as err:  # with --demo the pipeline loads before the server starts
        fail(str(err))
    if service.load_error:
        fail(service.load_error)


@app.command("benchmark-service")
def benchmark_service_command(
    model: str = typer.Option("en_med_ner", "--model", "-m", help="Pipeline directory or installed package"),
    texts: Path = typer.Option(Path("assets/sample/train.jsonl"), "--texts", exists=True,
                               help="JSONL with a \"text\" field a line; the load cuts texts of mixed length from it"),
    concurrency: str = typer.Option("1,4,16", "--concurrency", help="Client counts, comma-separated"),
    requests: int = typer.Option(1000, "--requests", min=1, help="Single-text requests at each concurrency"),
    max_batch_size: int = typer.Option(32, "--max-batch-size", min=1, help="The service's and offline nlp.pipe's"),
    threads: int = typer.Option(0, "--threads", help="torch threads in the service and offline (0: torch's default)"),
    cpu_int8: bool = typer.Option(False, "--cpu-int8", help="Int8 transformer inference on CPU"),
    inference: Optional[str] = inference_option(),
    code: Optional[str] = typer.Option(None, "--code", help="Python files with registered functions, comma-separated"),
    output: Path = typer.Option(Path("benchmarks/service.json"), "--output",
                                help="Results JSON; the table goes beside it (.md)"),
):
    """Latency and throughput of `serve` at a few concurrency levels, against offline nlp.pipe (not a test: run it
    under `flock /work/cpu.lock` on a shared machine)."""
    import srsly

    from med_ner.benchmark.service import benchmark_service
    from med_ner.inference.loading import PipelineError

    try:
        levels = [int(level) for level in concurrency.split(",") if level.strip()]
    except ValueError:
        fail(f"--concurrency: {concurrency!r} is not a comma-separated list of numbers")
    try:
        sample = [record["text"] for record in srsly.read_jsonl(texts)]
    except (ValueError, KeyError, TypeError) as err:
        fail(f"{texts}: not JSONL with a \"text\" field on every line ({err})")
    try:
        result = benchmark_service(model, sample, levels, requests, output, code=code, cpu_int8=cpu_int8,
                                   inference=inference, threads=threads, batch_size=max_batch_size)
    except (RuntimeError, PipelineError) as err:
        fail(str(err))
    typer.echo(output.with_suffix(".md").read_text(encoding="utf-8"))
    typer.echo(f"wrote {output} and {output.with_suffix('.md')} ({len(result['levels'])} levels)")
