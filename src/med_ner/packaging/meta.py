"""Write the meta.json that `spacy package` builds the wheel from.

Its `performance` holds the scores of `med-ner evaluate model` on the held-out test split,
not the dev scores that `spacy train` leaves in model-best/meta.json.
"""
import re
from pathlib import Path
from typing import Dict, List, Optional

import srsly

from med_ner.inference.transformer import OFFLINE_TRANSFORMERS, transformer_name

# Where an offline alias's weights come from, for the meta's sources.
HUB_IDS = {alias: "sentence-transformers/all-MiniLM-L6-v2" for alias in OFFLINE_TRANSFORMERS}


def model_card_license(model_dir: Path) -> Optional[str]:
    """The `license:` of an HF model card's front matter, if there is one."""
    card = model_dir / "README.md"
    if not card.exists():
        return None
    text = card.read_text(encoding="utf-8", errors="replace")
    front = re.match(r"^---\n(.*?)\n---", text, re.S)
    if not front:
        return None
    found = re.search(r"^license:\s*(\S+)", front.group(1), re.M)
    return found.group(1) if found else None


def transformer_source(name: str) -> Dict[str, str]:
    hub_id = HUB_IDS.get(name, name)
    resolved = Path(transformer_name(name))
    source = {"name": f"{hub_id} (transformer weights)"}
    if resolved.is_dir():
        license_name = model_card_license(resolved)
        if license_name:
            source["license"] = license_name
    source["url"] = "local directory" if hub_id == name and Path(name).exists() else f"https://huggingface.co/{hub_id}"
    return source


def build_meta(model_meta: Dict, metrics: Dict, name: str, version: str, description: str, license_name: str,
               corpus: Dict[str, str], transformer: str, requirements: List[str]) -> Dict:
    return {
        "lang": model_meta["lang"],
        "name": name,
        "version": version,
        "description": description,
        "license": license_name,
        "author": "en_med_ner contributors",
        "url": "",
        "email": "",
        "sources": [corpus] + ([transformer_source(transformer)] if "transformer" in model_meta.get("pipeline", []) else []),
        "labels": model_meta.get("labels", {}),
        "performance": {
            **{k: metrics[k] for k in ("ents_p", "ents_r", "ents_f")},
            "ents_per_type": per_type_scores(metrics),
            # clinical_context flags, end to end, where the test split annotates polarity
            **metrics.get("context", {}),
        },
        "evaluation": {k: metrics[k] for k in ("split", "data", "documents", "words", "entities")},
        "notes": (
            f"Accuracy: exact-match entity scores from spaCy's scorer on the **{metrics['split']}** split "
            f"({metrics['documents']} documents, {metrics['entities']} gold entities), not the dev split used "
            "to pick the best checkpoint."
        ),
        "requirements": requirements,
    }


def per_type_scores(metrics: Dict) -> Dict:
    return {k: {m: v[m] for m in ("p", "r", "f")} for k, v in metrics["ents_per_type"].items()}


def test_scores(metrics: Dict) -> Dict:
    """What the meta keeps of one test split's metrics."""
    keep = ("ents_p", "ents_r", "ents_f", "ents_f_ci95", "recall_seen", "recall_unseen", "documents", "entities")
    return {**{k: metrics[k] for k in keep if k in metrics}, "ents_per_type": per_type_scores(metrics)}


def mix_corpora_meta(mix: Dict, corpora: Dict, harmonisation: Path) -> List[Dict]:
    """Every corpus of a mix: its source and licence, the label map used and its
    test scores (None for a corpus without a test split, such as Chia)."""
    from med_ner.training.harmonise import load_harmonisation

    table = load_harmonisation(harmonisation)
    scored = [(name, metrics) for name, metrics in mix["corpora"].items()]
    rows = []
    for name, metrics in scored + [(name, None) for name in mix.get("without_split") or []]:
        if name not in corpora:
            raise ValueError(f"corpus {name!r} of the mix is not in the corpus table")
        if name not in table:
            raise ValueError(f"{harmonisation}: no entry for corpus {name!r} of the mix")
        rows.append({"name": name, "source": {k: str(v) for k, v in corpora[name]["source"].items() if v},
                     "label_map": table[name].describe(), "test": test_scores(metrics) if metrics else None})
    return rows


def write_meta(model_path: Path, metrics_path: Path, output: Path, name: str, version: str, description: str,
               license_name: str, corpus: Optional[str], table: Path, transformer: str, requirements: List[str],
               harmonisation: Optional[Path] = None, headline: Optional[str] = None) -> Dict:
    """Write the package meta with test-split scores; the metrics must be of the test split.

    `metrics_path` is the metrics of `evaluate` (one corpus, named by
    `corpus`) or of `med-ner evaluate mix` (several; then every corpus goes into the
    meta's sources and `corpora`, with its licence, label map and test scores,
    and `headline`, default the first, gives the top-level performance)."""
    metrics = srsly.read_json(metrics_path)
    if metrics.get("split") != "test":
        raise ValueError(f"{metrics_path} holds scores of the {metrics.get('split')!r} split, not 'test'")
    corpora = srsly.read_yaml(table)
    model_meta = srsly.read_json(model_path / "meta.json")
    if "corpora" in metrics:
        if harmonisation is None:
            raise ValueError(f"{metrics_path} scores a corpus mix: give the harmonisation table (--harmonisation)")
        rows = mix_corpora_meta(metrics, corpora, harmonisation)
        headline = headline or rows[0]["name"]
        if headline not in metrics["corpora"]:
            raise ValueError(f"headline corpus {headline!r} is not one of {', '.join(metrics['corpora'])}")
        meta = build_meta(model_meta, metrics["corpora"][headline], name, version, description, license_name,
                          rows[0]["source"], transformer, requirements)
        meta["sources"] = [row["source"] for row in rows] + meta["sources"][1:]
        meta["corpora"] = rows
        meta["notes"] = (f"Trained on a mix of {', '.join(r['name'] for r in rows)}. `performance` is the "
                         f"{headline} test split; `corpora` lists every corpus with its licence, the label map "
                         "used and its own test scores (exact match, each corpus scored on the labels it "
                         "annotates; null for a corpus without a test split). " + meta["notes"])
    else:
        if corpus not in corpora:
            raise ValueError(f"{table}: no corpus {corpus!r}")
        source = corpora[corpus]["source"]
        meta = build_meta(model_meta, metrics, name, version, description, license_name,
                          {k: str(v) for k, v in source.items() if v}, transformer, requirements)
    from med_ner.outputs import write_json

    write_json(output, meta, "meta")
    return meta
