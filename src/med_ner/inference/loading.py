"""Loading a pipeline: the one place that turns a model name or path (and
optional extra code) into an `nlp` object, offline, with the inference options."""
import errno
import os
import tempfile
from pathlib import Path
from typing import Optional


class PipelineError(Exception):
    """A pipeline that cannot be loaded, with a message for the user."""


# Never reach the Hugging Face hub: every weight this project uses is on disk.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def offline() -> None:
    """Set OFFLINE_ENV in this process, unless the user set those variables
    (HF_HUB_OFFLINE=0 before starting allows downloads)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def import_code(paths: Optional[str]) -> None:
    """Import Python files with registered functions and factories, given
    comma-separated as for `spacy package --code`. The project's own functions
    need none: the med_ner package registers them through entry points."""
    if not paths:
        return
    from spacy.util import import_file

    files = [Path(item.strip()) for item in paths.split(",") if item.strip()]
    for path in files:
        if not path.is_file():
            raise PipelineError(f"--code: {path} is not a file")
    for path in files:
        try:
            import_file(path.stem, path)
        except Exception as err:  # the user's file may raise anything while it imports
            raise PipelineError(f"--code: {path} does not import: {type(err).__name__}: {err}") from None


def inference_overrides(inference: Optional[str] = None, window: int = 0) -> dict:
    """spacy.load config overrides for the transformer's inference options:
    `inference` names a runtime (med_ner.inference.runtimes.RUNTIMES),
    `window` > 0 reads documents in non-overlapping windows of that many tokens
    when predicting. None and 0 keep what the pipeline's config says."""
    if inference is None and window <= 0:
        return {}
    from med_ner.inference.transformer import inference_config

    try:
        return inference_config(inference or "float32", window)
    except ValueError as err:
        raise PipelineError(str(err)) from None


def load_pipeline(model: str, code: Optional[str] = None, *, threads: int = 0, inference: Optional[str] = None,
                  window: int = 0):
    """spacy.load after importing `code`, offline, with the inference options
    of inference_overrides; `threads` > 0 sets torch's (and so ONNX Runtime's)
    thread count, and NumPy stops asking for huge pages (memory.no_huge_pages).
    A pipeline that is not there, or needs code that is not registered, raises
    PipelineError."""
    import catalogue
    import spacy

    from med_ner.inference.memory import no_huge_pages

    offline()
    no_huge_pages()
    import_code(code)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    try:
        return spacy.load(model, config=inference_overrides(inference, window))
    except OSError as err:
        if err.errno == errno.ENOSPC:
            where = f" writing {err.filename}" if err.filename else ""
            raise PipelineError(f"cannot load pipeline {model!r}: the disk is full (no space left on the device"
                                f"{where}; loading writes the transformer's weights to the temporary folder, "
                                f"{tempfile.gettempdir()}): free space or set TMPDIR to a folder with room") from None
        raise PipelineError(f"cannot load pipeline {model!r}: install the en_med_ner wheel or pass --model "
                            f"<pipeline directory> ({err})") from None
    except ImportError as err:  # spaCy's E048: no spacy.lang module for the config's `lang`
        raise PipelineError(f"cannot load pipeline {model!r}: its config names a language spaCy does not have "
                            f"({err})") from None
    except (catalogue.RegistryError, ValueError, KeyError) as err:
        damaged = damaged_file(model) if unreadable_data(err) else None
        if damaged is not None:
            raise PipelineError(f"cannot load pipeline {model!r}: {damaged} is damaged or truncated ({err}); "
                                f"copy or install the pipeline again") from None
        raise PipelineError(f"cannot load pipeline {model!r}: it names code that is not registered or a config "
                            f"that does not resolve; pass its functions with --code ({err})") from None


def unreadable_data(err: Exception) -> bool:
    """msgpack's errors for a file cut short or overwritten (spaCy stores weights with it)."""
    return type(err).__module__.startswith("msgpack") or str(err).startswith("Unpack failed")


def damaged_file(model: str) -> Optional[str]:
    """The first of the pipeline's msgpack files that does not read back whole
    (its path), or "a weights file" when the pipeline's folder is not found."""
    import spacy
    import srsly

    folder = Path(model)
    if not folder.is_dir():
        try:
            package = spacy.util.get_package_path(model)
            folder = next(p.parent for p in package.rglob("config.cfg"))
        except Exception:  # noqa: BLE001  (any failure here: fall back to the generic wording)
            return "a weights file"
    for path in sorted(folder.rglob("*")):
        if path.is_file() and (path.name == "model" or path.suffix == ".bin"):
            try:
                srsly.msgpack_loads(path.read_bytes())
            except Exception:  # noqa: BLE001  (msgpack raises several types)
                return str(path)
    return "a weights file"
