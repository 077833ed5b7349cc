"""An HTTP service for any NER pipeline: FastAPI + uvicorn, with one worker
thread that batches the documents of concurrent requests into nlp.pipe.

    from med_ner.service import ServiceSettings, create_app, serve
"""
from med_ner.service.app import create_app
from med_ner.service.server import serve
from med_ner.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app", "serve"]
