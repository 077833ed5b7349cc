"""`serve`: the HTTP service (POST /v1/entities, /health, /ready, /v1/model, /docs)."""
import logging
from typing import Optional

import typer
from pydantic import ValidationError

from med_ner.cli.app import CODE_OPTION, INFERENCE_OPTION, THRESHOLD_OPTION, MODEL_OPTION, app, fail
from med_ner.service.settings import ServiceSettings

DEFAULT = ServiceSettings()  # the options' defaults are the settings' own

# Settings whose option is not simply --<setting-name>.
OPTION_OF_SETTING = {"max_queued_documents": "--max-queued", "request_timeout_s": "--request-timeout",
                     "drain_timeout_s": "--drain-timeout"}
LOG_LEVELS = ("debug", "info", "warning", "error")


def setting_option(setting: str, help: str):
    """The option of a ServiceSettings field, with the field's default."""
    flag = OPTION_OF_SETTING.get(setting, "--" + setting.replace("_", "-"))
    return typer.Option(getattr(DEFAULT, setting), flag, help=help)


@app.command("serve")
def serve_command(
    model: str = MODEL_OPTION,
    host: str = setting_option("host", "Address to listen on (0.0.0.0 for every interface)"),
    port: int = setting_option("port", "Port to listen on"),
    code: Optional[str] = CODE_OPTION,
    inference: Optional[str] = INFERENCE_OPTION,
    threads: int = setting_option("threads", "torch threads (0: torch's default)"),
    threshold: Optional[float] = THRESHOLD_OPTION,
    max_batch_size: int = setting_option("max_batch_size", "Most documents in one nlp.pipe batch"),
    max_wait_ms: float = setting_option("max_wait_ms", "How long a batch waits for more documents"),
    max_queued_documents: int = setting_option("max_queued_documents", "Documents waiting for the model; beyond: 503"),
    max_chars_per_text: int = setting_option("max_chars_per_text", "Longest text (413 beyond)"),
    max_chars_per_request: int = setting_option("max_chars_per_request", "Characters of all texts"),
    max_texts_per_request: int = setting_option("max_texts_per_request", "Texts in one request"),
    request_timeout_s: float = setting_option("request_timeout_s", "Seconds a request may wait (504 beyond)"),
    drain_timeout_s: float = setting_option("drain_timeout_s", "Seconds in-flight requests get at shutdown"),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="MED_NER_API_KEY",
                                          help="Require this key in the X-API-Key header (better set by the "
                                               "environment variable than on the command line)"),
    demo: bool = typer.Option(False, "--demo", help="Also serve the Gradio demo at /demo"),
    log_text: bool = typer.Option(False, "--log-text", help="Log submitted texts at debug level (they are PHI)"),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error"),
):
    """Serve a pipeline over HTTP until SIGTERM/Ctrl-C (then in-flight requests finish, new ones get 503)."""
    # Every parameter but --log-level is the setting of its name.
    options = {name: value for name, value in locals().items() if name != "log_level"}
    from med_ner.inference.loading import PipelineError
    from med_ner.service import serve

    try:
        settings = ServiceSettings(**options)
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

