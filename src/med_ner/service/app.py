"""The FastAPI app: POST /v1/entities, GET /health, /ready and /v1/model.

The model loads in a thread after startup (so /health answers while /ready
says "loading") and runs only in the BatchWorker's thread; request handlers
queue documents and await their futures."""
import asyncio
import hmac
import logging
import re
import threading
import time
from contextlib import asynccontextmanager
from typing import Callable, List, Optional

import spacy
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from med_ner.components.entity_confidence import set_threshold
from med_ner.inference.loading import PipelineError, load_pipeline
from med_ner.service.batching import BatchWorker, DocumentFailed, QueueFull, WorkerClosed
from med_ner.service.schemas import (ApiError, EntitiesResponse, ErrorResponse, ModelInfo, Status,
                                     entities_request_schema, parse_entities_request)
from med_ner.service.settings import ServiceSettings

log = logging.getLogger("med_ner.service")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
ENTITY_FACTORIES = ("ner", "beam_ner", "entity_ruler", "span_ruler", "entity_linker")
# A disconnected client never reads the response; nginx's name for that outcome.
CLIENT_CLOSED = 499


class Service:
    """What the handlers share: settings, the model and its worker, and the
    draining state that graceful shutdown sets."""

    def __init__(self, settings: ServiceSettings, nlp=None):
        self.settings = settings
        self.nlp = nlp
        self.worker: Optional[BatchWorker] = None
        self.load_error: Optional[str] = None
        self.draining = False
        self.in_flight = 0
        # Called (from the loading thread) when the model cannot load; the server stops.
        self.on_fatal: Optional[Callable[[], None]] = None

    def load(self) -> None:
        try:
            if self.nlp is None:
                s = self.settings
                self.nlp = load_pipeline(s.model, s.code, threads=s.threads, inference=s.inference)
            set_threshold(self.nlp, self.settings.threshold)
            worker = BatchWorker(self.nlp, self.settings.max_batch_size, self.settings.max_wait_ms,
                                 self.settings.max_queued_documents)
            worker.start()
        except Exception as err:  # noqa: BLE001  (reported on /ready and by the CLI, never a traceback)
            self.load_error = str(err)
            log.error("error: %s", err)
            if self.on_fatal:
                self.on_fatal()
            return
        self.worker = worker
        log.info("ready: %s (%s)", self.name, ", ".join(self.nlp.pipe_names))

    @property
    def name(self) -> str:
        """The package name (lang_name, as en_med_ner), or the model setting before it has loaded."""
        if self.nlp is None:
            return self.settings.model
        return f"{self.nlp.meta.get('lang', '')}_{self.nlp.meta.get('name', '')}"

    def unavailable(self, reason: str) -> ApiError:
        return ApiError(503, reason, {"Retry-After": str(self.settings.retry_after_s)})

    def model_info(self) -> ModelInfo:
        nlp, s = self.nlp, self.settings
        labels = set()
        for name in nlp.pipe_names:
            if nlp.get_pipe_meta(name).factory in ENTITY_FACTORIES:
                labels.update(nlp.pipe_labels.get(name, []))
        return ModelInfo(name=self.name, version=nlp.meta.get("version", ""), spacy_version=spacy.__version__,
                         pipeline=nlp.pipe_names, labels=sorted(labels),
                         performance=nlp.meta.get("performance") or {}, evaluation=nlp.meta.get("evaluation"),
                         inference={"runtime": s.inference, "threads": s.threads, "max_batch_size": s.max_batch_size,
                                    "max_wait_ms": s.max_wait_ms})

    def check_limits(self, texts: List[str], fields: List[str]) -> None:
        s = self.settings
        if len(texts) > s.max_texts_per_request:
            raise ApiError(413, f"{fields[0].split('[')[0]}: {len(texts):,} texts, over max_texts_per_request "
                                  f"({s.max_texts_per_request:,})")
        for text, field in zip(texts, fields):
            if len(text) > s.max_chars_per_text:
                raise ApiError(413, f"{field}: {len(text):,} characters, over max_chars_per_text "
                                      f"({s.max_chars_per_text:,})")
        total = sum(map(len, texts))
        if total > s.max_chars_per_request:
            raise ApiError(413, f"body: {total:,} characters in all, over max_chars_per_request "
                                  f"({s.max_chars_per_request:,})")
        for text, field in zip(texts, fields):
            bad = LONE_SURROGATE.search(text)
            if bad:
                raise ApiError(422, f"{field}: not Unicode text: a lone surrogate (U+{ord(bad.group()):04X}) at "
                                      f"character {bad.start()}")


class QueuedPipeline:
    """The demo's `nlp`: nlp(text) goes through the service's worker, the one
    thread that runs the model; everything else (meta, pipe_names) is the pipeline's."""

    def __init__(self, service: Service):
        self.service = service

    def __getattr__(self, name: str):
        return getattr(self.service.nlp, name)

    def __call__(self, text: str):
        if self.service.worker is None:
            raise RuntimeError("the model is not loaded yet")
        [future] = self.service.worker.submit([text], annotate=lambda doc: doc)
        return future.result(self.service.settings.request_timeout_s)


def mount_demo(app: FastAPI, service: Service) -> None:
    """The Gradio demo at /demo. Its page shows the pipeline's name and
    components, so the pipeline loads now rather than after startup."""
    import os

    import gradio

    from med_ner.service.demo import build_app

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    s = service.settings
    if service.nlp is None:
        service.nlp = load_pipeline(s.model, s.code, threads=s.threads, inference=s.inference)
    try:
        set_threshold(service.nlp, s.threshold)
    except ValueError as err:
        raise PipelineError(str(err)) from None
    demo = build_app(QueuedPipeline(service), s.max_chars_per_text, "en_med_ner demo")
    gradio.mount_gradio_app(app, demo, path="/demo")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body: {int(declared):,} bytes, over max_body_bytes ({limit:,})")
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(415, f"Content-Type: {content_type or '(empty)'}; send application/json")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body: over max_body_bytes ({limit:,})")
        chunks.append(chunk)
    return b"".join(chunks)


async def until_disconnected(request: Request) -> None:
    # With the body read, the next ASGI message is the client going away.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def results_or_cancel(request: Request, futures, timeout: float) -> Optional[list]:
    """Every document's records; None if the client went away first. Either way
    out (disconnect, timeout), the documents the worker has not begun are cancelled."""
    results = asyncio.gather(*(asyncio.wrap_future(future) for future in futures))
    gone = asyncio.ensure_future(until_disconnected(request))
    try:
        done, _ = await asyncio.wait({results, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if results in done:
        return results.result()
    results.cancel()
    for future in futures:
        future.cancel()
    if gone in done:
        return None
    raise ApiError(504, f"the request took over request_timeout_s ({timeout:g} s); send fewer or shorter texts, "
                          "or retry later")


def create_app(settings: ServiceSettings, nlp=None) -> FastAPI:
    """The app for `settings`; `nlp` (already loaded) skips load_pipeline."""
    service = Service(settings, nlp)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        threading.Thread(target=service.load, name="med-ner-loader", daemon=True).start()
        yield
        service.draining = True
        if service.worker is not None:
            await asyncio.to_thread(service.worker.close, settings.drain_timeout_s)

    app = FastAPI(title="en_med_ner service", version="1", lifespan=lifespan,
                  description="Clinical named entities (with negation and uncertainty where the pipeline has "
                              "clinical_context) from any spaCy pipeline. Documents of concurrent requests are "
                              "batched into nlp.pipe.")
    app.state.service = service

    @app.exception_handler(ApiError)
    async def refused(request: Request, err: ApiError) -> JSONResponse:
        return JSONResponse({"error": err.message}, status_code=err.status, headers=err.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail)}, status_code=err.status_code, headers=err.headers)

    def require_key(request: Request) -> None:
        if settings.api_key is None:
            return
        given = request.headers.get("x-api-key", "")
        if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
            raise ApiError(401, "missing or wrong API key: send it in the X-API-Key header")

    errors = {code: {"model": ErrorResponse} for code in (400, 401, 413, 415, 422, 500, 503, 504)}

    @app.get("/health", response_model=Status, response_model_exclude_none=True,
             summary="Liveness: the process answers")
    async def health() -> Status:
        return Status(status="ok")

    @app.get("/ready", response_model=Status, response_model_exclude_none=True, responses={503: {"model": Status}},
             summary="Readiness: the model is loaded and the service is not shutting down")
    async def ready():
        if service.worker is not None and not service.draining:
            return Status(status="ready")
        state = "draining" if service.draining else ("failed" if service.load_error else "loading")
        return JSONResponse(Status(status=state, detail=service.load_error).model_dump(exclude_none=True),
                            status_code=503)

    @app.get("/v1/model", response_model=ModelInfo, responses=errors, dependencies=[Depends(require_key)],
             summary="The pipeline served: name, version, labels, test-split scores, inference options")
    async def model() -> ModelInfo:
        if service.worker is None:
            raise service.unavailable("the model is not loaded yet")
        return service.model_info()

    @app.post("/v1/entities", response_model=EntitiesResponse, responses=errors, dependencies=[Depends(require_key)],
              summary="Entities of one text, a list of texts, or documents with ids",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/EntitiesRequest"}}}}})
    async def entities(request: Request) -> Response:
        if service.draining:
            raise ApiError(503, "the service is shutting down", {"Retry-After": str(settings.retry_after_s),
                                                                   "Connection": "close"})
        if service.worker is None:
            raise service.unavailable("the model is not loaded yet")
        service.in_flight += 1
        started = time.perf_counter()
        try:
            return await annotate(request, started)
        except ApiError:
            raise
        except ClientDisconnect:
            log.info("client disconnected while sending its request")
            return Response(status_code=CLIENT_CLOSED)
        except Exception as err:  # noqa: BLE001  (its message may quote the text: log the type only)
            log.error("internal error: %s", type(err).__name__)
            raise ApiError(500, f"internal error ({type(err).__name__})") from None
        finally:
            service.in_flight -= 1

    async def annotate(request: Request, started: float) -> Response:
        payload = parse_entities_request(await read_body(request, settings.max_body_bytes))
        ids, texts, fields = payload.fields()
        service.check_limits(texts, fields)
        try:
            futures = service.worker.submit(texts)
        except QueueFull:
            raise service.unavailable(f"the queue is full ({service.worker.queued:,} documents waiting); "
                                      f"retry after {settings.retry_after_s} s") from None
        except WorkerClosed:
            raise service.unavailable("the service is shutting down") from None
        if settings.log_text:
            log.debug("texts: %r", texts)
        try:
            records = await results_or_cancel(request, futures, settings.request_timeout_s)
        except DocumentFailed as err:  # BatchWorker logged it
            for future in futures:
                future.cancel()
            failed = next(field for field, future in zip(fields, futures)
                          if future.done() and not future.cancelled() and future.exception() is not None)
            raise ApiError(500, f"{failed}: the pipeline failed on this text ({err})") from None
        if records is None:
            log.info("client disconnected; its unfinished documents were cancelled")
            return Response(status_code=CLIENT_CLOSED)
        log.debug("%d documents, %d characters, %.1f ms", len(texts), sum(map(len, texts)),
                  1000 * (time.perf_counter() - started))
        # The records already have the response's shape (EntitiesResponse, as /docs
        # shows it): sent as they are, not validated a second time per entity.
        return JSONResponse({"model": service.name,
                             "documents": [{"id": i, **r} for i, r in zip(ids, records)]})

    original_openapi = app.openapi

    def openapi():
        # The request body is read by hand (for UTF-8 and size checks), so its schema is added here.
        if app.openapi_schema is None:
            schema = original_openapi()
            schema["components"]["schemas"].update(entities_request_schema(
                settings.max_texts_per_request, settings.max_chars_per_text, settings.max_chars_per_request,
                settings.max_body_bytes))
        return app.openapi_schema

    app.openapi = openapi
    if settings.demo:
        mount_demo(app, service)
    return app
