"""One worker thread that runs the model: it groups the documents queued by
concurrent requests into nlp.pipe batches. Requests wait on futures, so the
event loop never blocks on the model; a cancelled future (a timed-out or
disconnected request) is skipped before its document reaches the model."""
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Callable, Deque, List, Sequence, Tuple

from med_ner.prediction.records import document_record

log = logging.getLogger("med_ner.service")


def service_fields(doc) -> dict:
    """A document's fields in the response: "entities", and "attributes" where the pipeline makes them."""
    return document_record(doc, entities_key="entities")


class QueueFull(Exception):
    """The queue has no room for all of a request's documents."""


class WorkerClosed(Exception):
    """The worker is shutting down and takes no new documents."""


class DocumentFailed(Exception):
    """The pipeline raised on this document (on its own, not just in a batch)."""


class BatchWorker:
    def __init__(self, nlp, max_batch_size: int, max_wait_ms: float, max_queued: int):
        self.nlp = nlp
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.max_queued = max_queued
        self.batches = 0
        self.documents = 0
        # (text, what to make of its Doc, the future that gets it)
        self._pending: Deque[Tuple[str, Callable, Future]] = deque()
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="med-ner-batcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def queued(self) -> int:
        return len(self._pending)

    def submit(self, texts: Sequence[str], annotate: Callable = service_fields) -> List[Future]:
        """Queue all of `texts` or none: one future per text, resolving to
        annotate(its Doc), run in the worker (by default the response's document
        fields, {"entities", "attributes"?}). Raises QueueFull or WorkerClosed."""
        with self._changed:
            if self._closed:
                raise WorkerClosed()
            if len(self._pending) + len(texts) > self.max_queued:
                raise QueueFull()
            futures = [Future() for _ in texts]
            self._pending.extend((text, annotate, future) for text, future in zip(texts, futures))
            self._changed.notify()
        return futures

    def close(self, timeout: float) -> bool:
        """Take no new documents, finish the queued ones, stop. False if the
        worker was still busy after `timeout` seconds."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _next_batch(self) -> List[Tuple[str, Callable, Future]]:
        """Up to max_batch_size documents, waiting for the first as long as it
        takes and for the rest at most max_wait_s; empty once closed and drained."""
        with self._changed:
            while not self._pending and not self._closed:
                self._changed.wait()
            deadline = time.monotonic() + self.max_wait_s
            while len(self._pending) < self.max_batch_size and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            count = min(len(self._pending), self.max_batch_size)
            return [self._pending.popleft() for _ in range(count)]

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                return
            # set_running_or_notify_cancel: False for a cancelled future, and a
            # running one can no longer be cancelled, so each gets one result.
            live = [item for item in batch if item[2].set_running_or_notify_cancel()]
            if live:
                self._process(live)

    def _process(self, batch: List[Tuple[str, Callable, Future]]) -> None:
        try:
            docs = self.nlp.pipe([text for text, _, _ in batch], batch_size=len(batch))
            results = [annotate(doc) for (_, annotate, _), doc in zip(batch, docs)]
        except Exception as err:  # noqa: BLE001  (one bad document must not fail the others: retry one by one)
            if len(batch) > 1:
                for item in batch:
                    self._process([item])
                return
            future = batch[0][2]
            # The exception's message may quote the text (PHI): log its type only.
            error = type(err).__name__
            log.error("the pipeline failed on a document: %s", error)
            future.set_exception(DocumentFailed(error))
            return
        self.batches += 1
        self.documents += len(batch)
        for (_, _, future), result in zip(batch, results):
            future.set_result(result)

