"""Convert one corpus listed in configs/corpora.yml to train/dev/test DocBins.

The corpus table says which converter reads which files with which options, so
adding a corpus is an entry in that file, not a new script. Reports go to
<output>/reports/<split>.json (<split>-<n>.json for splits of several parts).
"""
from pathlib import Path
from typing import Dict, List

import spacy
import srsly
from spacy.tokens import DocBin

from med_ner.corpus.conversion import ConversionError, LabelMap
from med_ner.corpus.brat import convert_brat
from med_ner.corpus.iob import convert_iob
from med_ner.corpus.jsonl import convert_jsonl

CONVERTERS = {"jsonl": convert_jsonl, "iob": convert_iob, "brat": convert_brat}
SPLITS = ("train", "dev", "test")


def load_corpora(path: Path) -> Dict:
    return srsly.read_yaml(path)


def convert_split(entry: Dict, split: str, assets: Path, output: Path, label_map: LabelMap) -> List[str]:
    converter = CONVERTERS[entry["format"]]
    parts = entry["splits"][split]
    summaries = []
    part_paths = []
    for i, part in enumerate(parts):
        part = dict(part)
        source = assets / part.pop("path")
        if not source.exists():
            raise ConversionError(source, "not found: fetch the corpus with `spacy project assets` "
                                          "(or copy it into assets/)")
        if "ids" in part:
            part["ids_path"] = Path(part.pop("ids"))
        options = {**entry.get("options", {}), **part}
        name = split if len(parts) == 1 else f"{split}-{i + 1}"
        out = output / (f"{split}.spacy" if len(parts) == 1 else f"parts/{name}.spacy")
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
        merged.to_disk(output / f"{split}.spacy")
    return summaries
