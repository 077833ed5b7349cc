"""Every setting of the HTTP service, in one model: the CLI, the tests and the
benchmark build it, the app reads it."""
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from med_ner.inference.runtimes import unknown_runtime


class ServiceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The pipeline: an installed package name or a directory, as for load_pipeline.
    model: str = "en_med_ner"
    code: Optional[str] = Field(None, description="Python files with registered functions, comma-separated")
    # Transformer runtime (float32, int8, bf16, onnx, onnx-int8); None keeps the pipeline's own.
    inference: Optional[str] = None
    threads: int = Field(0, ge=0, description="torch threads; 0 keeps torch's default")
    # Entities below this confidence are dropped; None keeps the pipeline's entity_confidence threshold.
    threshold: Optional[float] = Field(None, ge=0, le=1)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)

    # Batching: the worker takes up to max_batch_size queued documents, waiting at
    # most max_wait_ms after the first for more to arrive.
    max_batch_size: int = Field(32, ge=1)
    max_wait_ms: float = Field(2.0, ge=0)
    # Documents waiting for the worker; a request that does not fit gets 503.
    max_queued_documents: int = Field(1024, ge=1)
    retry_after_s: int = Field(1, ge=0, description="Retry-After of a 503")

    # Limits of one request.
    max_chars_per_text: int = Field(100_000, ge=1)
    max_chars_per_request: int = Field(1_000_000, ge=1)
    max_texts_per_request: int = Field(256, ge=1)
    max_body_bytes: int = Field(10_000_000, ge=1, description="request body, before JSON decoding")
    request_timeout_s: float = Field(30.0, gt=0, description="queue wait + model time of one request")
    # On SIGTERM/SIGINT: refuse new requests, let in-flight ones finish for at most this long.
    drain_timeout_s: float = Field(30.0, ge=0)

    # Off by default: any client that reaches the port may call /v1/*.
    api_key: Optional[str] = Field(None, min_length=1)
    # The Gradio demo (med_ner.service.demo) at /demo, its model calls queued like any request's.
    demo: bool = False
    # Clinical text is PHI: submitted text is never logged unless this is set.
    log_text: bool = False

    @field_validator("inference")
    @classmethod
    def known_runtime(cls, value: Optional[str]) -> Optional[str]:
        problem = unknown_runtime(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value
