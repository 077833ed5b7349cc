"""What the service tests share: the pipelines they serve, a uvicorn server on
127.0.0.1 (in a thread, or a `med-ner serve` process), and the sample texts."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

import spacy

from med_ner.components import clinical_context

from bench.service import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "sample"
TRIGGERS = clinical_context.default_triggers("en")
SLOW_COMPONENT = ROOT / "tests" / "slow_component.py"


def sample_texts(split: str) -> List[str]:
    lines = (SAMPLE / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def ruler_pipeline(path: Path, slow: bool = False) -> Path:
    """An entity_ruler with every gold mention of the sample's train split as a
    pattern, then clinical_context's rules (so entities carry negated/uncertain);
    `slow` adds tests/slow_component.py's 20 ms a document."""
    nlp = spacy.blank("en")
    patterns = {}
    for line in (SAMPLE / "train.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for span in record["spans"]:
            mention = record["text"][span["start"]:span["end"]]
            patterns[mention.lower()] = {"label": span["label"], "pattern": [{"LOWER": word.lower_} for word in
                                                                              nlp.make_doc(mention)]}
    nlp.add_pipe("entity_ruler").add_patterns(list(patterns.values()))
    nlp.add_pipe("clinical_context", config={"use_model": False}).initialize(lambda: [], nlp=nlp,
                                                                             triggers=str(TRIGGERS))
    if slow:
        import slow_component  # noqa: F401  (registers test_slow)

        nlp.add_pipe("test_slow")
    return save(nlp, path)


def transformer_pipeline(path: Path, bert: Path) -> Path:
    """transformer (the BERT directory `bert`) + an untrained ner + clinical_context's
    rules: torch does the work, as in en_med_ner, and the entities it finds do not
    depend on how documents are batched."""
    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", config={"model": {"@architectures": "spacy-transformers.TransformerModel.v3",
                                                  "name": str(bert), "tokenizer_config": {"use_fast": True}}})
    listener = {"@architectures": "spacy-transformers.TransformerListener.v1", "grad_factor": 1.0,
                "pooling": {"@layers": "reduce_mean.v1"}}
    ner = nlp.add_pipe("ner", config={"model": {"@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner",
                                                "extra_state_tokens": False, "hidden_width": 64, "maxout_pieces": 2,
                                                "use_upper": False, "tok2vec": listener}})
    for label in ("DISEASE", "SYMPTOM", "DRUG"):
        ner.add_label(label)
    nlp.add_pipe("clinical_context", config={"use_model": False})
    nlp.config["initialize"]["components"]["clinical_context"] = {"triggers": str(TRIGGERS)}
    nlp.initialize()
    return save(nlp, path)


def save(nlp, path: Path) -> Path:
    nlp.meta.update({"name": "service_test", "version": "0.0.1",
                     "performance": {"ents_f": 0.5}, "evaluation": {"split": "test"}})
    nlp.to_disk(path)
    return path


class ServerThread:
    """build_server(settings) run by uvicorn in a thread of the test process, on a free port."""

    def __init__(self, settings, nlp=None):
        from med_ner.service.server import build_server

        self.server = build_server(settings.model_copy(update={"host": "127.0.0.1", "port": 0}), nlp,
                                   log_level="warning", access_log=False)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def service(self):
        return self.server.service

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        wait_ready(self.url, self.thread.is_alive, 60)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)


class ServerProcess:
    """`python -m med_ner serve` in its own process (its own CPU and RSS)."""

    def __init__(self, pipeline: Path, log: Path, *options: str, code: Optional[Path] = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "med_ner", "serve", "--model", str(pipeline), "--port", str(self.port),
                   *(["--code", str(code)] if code else []), *options]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
        with log.open("w") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT), env=env)

    def __enter__(self) -> "ServerProcess":
        try:
            wait_ready(self.url, lambda: self.process.poll() is None, 120)
        except RuntimeError as err:
            self.process.kill()
            raise RuntimeError(f"{err}: {self.log.read_text()[-3000:]}") from None
        return self

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

