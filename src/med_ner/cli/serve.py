"""`serve`: the HTTP service (POST /v1/entities, /health, /ready, /v1/model, /docs)."""
import logging
from typing import Optional

import typer
from pydantic import ValidationError

from med_ner.cli.app import app, fail

# Settings whose option is not simply --<setting-name>.
OPTION_OF_SETTING = {"max_queued_documents": "--max-queued", "request_timeout_s": "--request-timeout",
                     "drain_timeout_s": "--drain-timeout"}
LOG_LEVELS = ("debug", "info", "warning", "error")


@app.command("serve")
def serve_command(
    model: str = typer.Option("en_med_ner", "--model", "-m", help="Pipeline directory or installed package"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)"),
    port: int = typer.Option(8080, "--port", help="Port to listen on"),
    code: Optional[str] = typer.Option(None, "--code", help="Python files with registered functions, comma-separated"),
    cpu_int8: bool = typer.Option(False, "--cpu-int8", help="Int8 transformer inference on CPU"),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)"),
    max_batch_size: int = typer.Option(32, "--max-batch-size", help="Most documents in one nlp.pipe batch"),
    max_wait_ms: float = typer.Option(2.0, "--max-wait-ms", help="How long a batch waits for more documents"),
    max_queued: int = typer.Option(1024, "--max-queued", help="Documents waiting for the model; beyond: 503"),
    max_chars_per_text: int = typer.Option(100_000, "--max-chars-per-text", help="Longest text (413 beyond)"),
    max_chars_per_request: int = typer.Option(1_000_000, "--max-chars-per-request", help="Characters of all texts"),
    max_texts_per_request: int = typer.Option(256, "--max-texts-per-request", help="Texts in one request"),
    request_timeout: float = typer.Option(30.0, "--request-timeout", help="Seconds a request may wait (504 beyond)"),
    drain_timeout: float = typer.Option(30.0, "--drain-timeout", help="Seconds in-flight requests get at shutdown"),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="MED_NER_API_KEY",
                                          help="Require this key in the X-API-Key header (better set by the "
                                               "environment variable than on the command line)"),
    log_text: bool = typer.Option(False, "--log-text", help="Log submitted texts at debug level (they are PHI)"),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error"),
):
    """Serve a pipeline over HTTP until SIGTERM/Ctrl-C (then in-flight requests finish, new ones get 503)."""
    from med_ner.service import ServiceSettings, serve

    try:
        settings = ServiceSettings(
            model=model, host=host, port=port, code=code, cpu_int8=cpu_int8, threads=threads,
            max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_queued_documents=max_queued,
            max_chars_per_text=max_chars_per_text, max_chars_per_request=max_chars_per_request,
            max_texts_per_request=max_texts_per_request, request_timeout_s=request_timeout,
            drain_timeout_s=drain_timeout, api_key=api_key, log_text=log_text)
    except ValidationError as err:
        first = err.errors()[0]
        setting = str(first["loc"][0])
        fail(f"{OPTION_OF_SETTING.get(setting, '--' + setting.replace('_', '-'))}: {first['msg']}")
    if log_level not in LOG_LEVELS:
        fail(f"--log-level: {log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(message)s")
    service = serve(settings, log_level=log_level)
    if service.load_error:
        fail(service.load_error)
