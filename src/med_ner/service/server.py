"""Running the app under uvicorn, with a graceful shutdown: the first SIGTERM or
SIGINT makes new requests get 503 while those in flight finish (for at most
drain_timeout_s), then uvicorn stops; a second signal stops it at once."""
import logging
import threading
import time

import uvicorn

from med_ner.service.app import create_app
from med_ner.service.settings import ServiceSettings

log = logging.getLogger("med_ner.service")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config):
        super().__init__(config)
        self.service = config.app.state.service
        # A model that cannot load stops the server (the CLI then reports service.load_error).
        self.service.on_fatal = self.stop

    def stop(self) -> None:
        self.should_exit = True

    def handle_exit(self, sig, frame) -> None:
        if self.service.draining:
            super().handle_exit(sig, frame)
            return
        self.service.draining = True
        log.info("shutting down: %d requests in flight", self.service.in_flight)
        threading.Thread(target=self._exit_when_drained, args=(sig,), name="med-ner-drain", daemon=True).start()

    def _exit_when_drained(self, sig) -> None:
        deadline = time.monotonic() + self.service.settings.drain_timeout_s
        while self.service.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.service.in_flight:
            log.warning("%d requests still in flight after drain_timeout_s", self.service.in_flight)
        super().handle_exit(sig, None)


def build_server(settings: ServiceSettings, nlp=None, log_level: str = "info",
                 access_log: bool = True) -> DrainingServer:
    config = uvicorn.Config(create_app(settings, nlp), host=settings.host, port=settings.port, log_level=log_level,
                            access_log=access_log, timeout_graceful_shutdown=max(1, int(settings.drain_timeout_s)))
    return DrainingServer(config)


def serve(settings: ServiceSettings, nlp=None, log_level: str = "info", access_log: bool = True):
    """Serve until a signal (or a model that fails to load); returns the Service,
    whose load_error says why it stopped early."""
    server = build_server(settings, nlp, log_level, access_log)
    server.run()
    return server.service
