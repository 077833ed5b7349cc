"""Convert one corpus listed in configs/corpora.yml to train/dev/test DocBins.

The corpus table says which converter reads which files with which options, so
adding a corpus is an entry in that file, not a new script. Reports go to
<output>/reports/<split>.json (<split>-<n>.json for splits of several parts).
"""
import inspect
import re
from pathlib import Path
from typing import Dict, List, Optional

import spacy
from spacy.tokens import DocBin
from srsly.ruamel_yaml import YAML
from srsly.ruamel_yaml.error import MarkedYAMLError

from med_ner.corpus.conversion import PATH_OPTIONS, LabelMap, option_problem

from med_ner.corpus.reading import ConversionError, read_text
from med_ner.corpus.brat import convert_brat
from med_ner.corpus.iob import convert_iob
from med_ner.corpus.jsonl import convert_jsonl

CONVERTERS = {"jsonl": convert_jsonl, "iob": convert_iob, "brat": convert_brat}
SPLITS = ("train", "dev", "test")
# A corpus without a test split (Chia: no official one) trains and selects only.
REQUIRED_SPLITS = ("train", "dev")
# Converter parameters that the table does not set as options.
NOT_OPTIONS = ("input_path", "output_path", "label_map", "lang")


class CorpusTable:
    """configs/corpora.yml, read with its text so that errors name the line."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.text = read_text(self.path)
        try:
            self.entries = YAML(typ="safe").load(self.text)
        except MarkedYAMLError as err:
            # The context mark is where the broken construct starts, which is where to look.
            mark = err.context_mark or err.problem_mark
            what = " ".join(x for x in (err.context, err.problem) if x)
            raise ConversionError(self.path, f"not valid YAML: {what}", line=mark.line + 1 if mark else None) from None
        if not isinstance(self.entries, dict):
            raise ConversionError(self.path, "the corpus table maps corpus names to entries")

    def line(self, corpus: str, key: Optional[str] = None) -> Optional[int]:
        """The line of `corpus:` (or of `key:` inside its entry) in the table."""
        lines = self.text.split("\n")
        start = next((i for i, l in enumerate(lines) if re.match(rf"{re.escape(corpus)}\s*:", l)), None)
        if start is None:
            return None
        if key is not None:
            for i in range(start + 1, len(lines)):
                if lines[i] and not lines[i][0].isspace() and not lines[i].startswith("#"):
                    break
                # `key:` on its own line, or inside a flow mapping ({key: ...}), quoted or not
                if re.match(r"\s", lines[i]) and re.search(rf"[\s{{,]['\"]?{re.escape(key)}['\"]?\s*:", lines[i]):
                    return i + 1
        return start + 1

    def entry(self, corpus: str, assets: Path) -> Dict:
        """The corpus's entry, checked whole before anything is converted: its
        format, language, splits, options and that every source file is there."""
        if corpus not in self.entries:
            raise ConversionError(self.path, f"unknown corpus {corpus!r}; it lists: {', '.join(self.entries)}")
        entry = self.entries[corpus]

        def error(message: str, key: Optional[str] = None) -> ConversionError:
            return ConversionError(self.path, f"corpus {corpus!r}: {message}", line=self.line(corpus, key))

        if not isinstance(entry, dict):
            raise error("an entry is a mapping with format, splits and optional lang, options, label_map")
        if entry.get("format") not in CONVERTERS:
            raise error(f"unknown format {entry.get('format')!r} (known: {', '.join(CONVERTERS)})", "format")
        converter = CONVERTERS[entry["format"]]
        try:
            spacy.util.get_lang_class(entry.get("lang", "en"))
        except ImportError:
            raise error(f"spaCy has no language {entry.get('lang')!r}", "lang") from None
        takes = [name for name in inspect.signature(converter).parameters if name not in NOT_OPTIONS]
        options = entry.get("options", {})
        if not isinstance(options, dict):
            raise error("options must be a mapping", "options")
        splits = entry.get("splits")
        if not isinstance(splits, dict):
            raise error("no splits", "splits")
        for split in entry_splits(entry):
            parts = splits.get(split)
            if not parts or not isinstance(parts, list):
                raise error(f"no {split!r} split (a list of parts, each with a path)", "splits")
            for part in parts:
                if not isinstance(part, dict) or not isinstance(part.get("path"), str):
                    raise error(f"each part of split {split!r} needs a path: {part!r}", split)
                for option, value in {**options, **{k: v for k, v in part.items() if k not in ("path", "ids")}}.items():
                    if option not in takes:
                        raise error(f"{converter.__name__} takes no option {option!r} (it takes: {', '.join(takes)})",
                                    "options" if option in options else split)
                    problem = option_problem(option, value)
                    if problem is not None:  # by value as the CLI checks it: 'no' is not false
                        raise error(problem, option)
                    if option in PATH_OPTIONS and not Path(value).is_file():  # relative to the project root
                        raise error(f"{option} file {value!r} not found", option)
                if "ids" in part and "ids_path" not in takes:
                    raise error(f"{converter.__name__} takes no ids file", split)
                if not (assets / part["path"]).exists():
                    raise ConversionError(assets / part["path"], "not found: fetch the corpus with "
                                                                 "`spacy project assets` (or copy it into assets/)")
        return entry


def entry_splits(entry: Dict) -> List[str]:
    """The splits an entry converts: train and dev always, test where it has one."""
    return [split for split in SPLITS if split in REQUIRED_SPLITS or split in entry.get("splits", {})]


def check_corpus_outputs(entry: Dict, assets: Path, output: Path) -> None:
    """Every file the corpus's conversion writes, checked before the first is
    (med_ner.outputs.check_outputs): none is a source, none a folder or FIFO."""
    from med_ner.outputs import check_outputs

    outputs, inputs = [], []
    for split in entry_splits(entry):
        parts = entry["splits"][split]
        outputs.append((f"{split} output", output / f"{split}.spacy"))
        for i, part in enumerate(parts):
            name = split if len(parts) == 1 else f"{split}-{i + 1}"
            if len(parts) > 1:
                outputs.append((f"{name} output", output / "parts" / f"{name}.spacy"))
            outputs.append((f"{name} report", output / "reports" / f"{name}.json"))
            inputs.append((f"{split} source", assets / part["path"]))
            if "ids" in part:
                inputs.append((f"{split} ids", Path(part["ids"])))
    check_outputs(outputs, inputs)


def convert_split(entry: Dict, split: str, assets: Path, output: Path, label_map: LabelMap) -> List[str]:
    from med_ner.outputs import atomic_path, output_group

    check_corpus_outputs(entry, assets, output)
    converter = CONVERTERS[entry["format"]]
    parts = entry["splits"][split]
    summaries = []
    part_paths = []
    for i, part in enumerate(parts):
        part = dict(part)
        source = assets / part.pop("path")
        if "ids" in part:
            part["ids_path"] = Path(part.pop("ids"))
        options = {**entry.get("options", {}), **part}
        name = split if len(parts) == 1 else f"{split}-{i + 1}"
        out = output / (f"{split}.spacy" if len(parts) == 1 else f"parts/{name}.spacy")
        with output_group():  # the DocBin and its report, or the old pair
            report = converter(source, out, label_map, lang=entry.get("lang", "en"), **options)
            report.write(output / "reports" / f"{name}.json")
        summaries.append(f"[{name}] {report.summary()}")
        part_paths.append(out)
    if len(parts) > 1:
        # Ids are unique within a part; prefix the part's path so they stay unique in the split.
        vocab = spacy.blank(entry.get("lang", "en")).vocab
        merged = DocBin(store_user_data=True)
        for part, path in zip(parts, part_paths):
            for doc in DocBin(store_user_data=True).from_disk(path).get_docs(vocab):
                doc.user_data["id"] = f"{part['path']}/{doc.user_data.get('id', '')}"
                merged.add(doc)
        with atomic_path(output / f"{split}.spacy") as tmp:
            tmp.write_bytes(merged.to_bytes())
    return summaries
