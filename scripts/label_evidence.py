"""How reference corpora (and a term vocabulary) label the mention texts of one
source label: the analysis behind a per-mention rule of the label
harmonisation table (configs/label_harmonisation.yml), whose list file
`--write-list` writes. A project script, not part of the med_ner wheel:

    python scripts/label_evidence.py --source corpus/BC5CDR/train.spacy --label Disease \
        --reference corpus/MACCROBAT/train.spacy --output evidence.json --write-list assets/labels/symptom_texts.txt
"""
import json
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import srsly
import typer

from med_ner.cli.app import fail
from med_ner.training.harmonise import normalise_text

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def label_evidence(mentions: Iterable[Tuple[str, str]], reference: Iterable[Tuple[str, str]], label: str,
                   candidates: Tuple[str, str] = ("DISEASE", "SYMPTOM"),
                   vocabulary: Optional[Dict[str, set]] = None, top: int = 25) -> Dict:
    """How the reference corpora label the texts of one source label's mentions.

    `mentions` and `reference` are (text, label) pairs. Each mention of `label`
    is classed by the reference labels of its lowercased text: only the first
    candidate, only the second, both, other, or none; `vocabulary` (text ->
    set of vocabulary types) adds the same classing by a term list."""
    counts = Counter(normalise_text(text) for text, lab in mentions if lab == label)
    seen: Dict[str, Counter] = {}
    for text, lab in reference:
        seen.setdefault(normalise_text(text), Counter())[lab] += 1
    first, second = candidates

    def reference_class(text: str) -> str:
        labs = seen.get(text, Counter())
        if labs[first] and labs[second]:
            return "both"
        if labs[first] or labs[second]:
            return first if labs[first] else second
        return "other" if labs else "none"

    def vocabulary_class(text: str) -> str:
        types = vocabulary.get(text, set())
        if first in types and second in types:
            return "both"
        if types & {first, second}:
            return first if first in types else second
        return "other" if types else "none"

    def tally(classify) -> Dict:
        out = {}
        for text, n in counts.most_common():
            row = out.setdefault(classify(text), {"mentions": 0, "texts": 0, "top": []})
            row["mentions"] += n
            row["texts"] += 1
            if len(row["top"]) < top:
                row["top"].append([text, n])
        return out

    result = {"label": label, "mentions": sum(counts.values()), "texts": len(counts),
              "by_reference_labels": tally(reference_class)}
    for row_class, row in result["by_reference_labels"].items():
        for pair in row["top"]:
            pair.append(dict(seen.get(pair[0], {})))
    if vocabulary is not None:
        result["by_vocabulary"] = tally(vocabulary_class)
    return result


def majority_texts(reference: Iterable[Tuple[str, str]], label: str, against: str) -> List[str]:
    """Reference texts labelled `label` more often than `against`: the list a
    per-mention rule reads."""
    seen: Dict[str, Counter] = {}
    for text, lab in reference:
        seen.setdefault(normalise_text(text), Counter())[lab] += 1
    return sorted(text for text, labs in seen.items() if labs[label] > labs[against])


def _mentions(paths: List[Path]):
    import spacy
    from spacy.tokens import DocBin

    vocab = spacy.blank("en").vocab
    for path in paths:
        for doc in DocBin().from_disk(path).get_docs(vocab):
            for ent in doc.ents:
                yield ent.text, ent.label_


def _vocabulary(path: Path) -> Dict[str, set]:
    """term -> types, from a JSONL term list with `term` and `type` fields."""
    vocabulary: Dict[str, set] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                vocabulary.setdefault(normalise_text(record["term"]), set()).add(record["type"])
            except (json.JSONDecodeError, KeyError, TypeError):
                fail(f"{path}:{number}: a term line is a JSON object with 'term' and 'type'")
    return vocabulary


@app.command()
def main(
    source: List[Path] = typer.Option(..., "--source", exists=True, help="DocBin whose mentions are classed (repeatable)"),
    label: str = typer.Option(..., "--label", help="The source label to class, e.g. Disease"),
    reference: List[Path] = typer.Option(..., "--reference", exists=True, help="DocBin in release labels (repeatable)"),
    first: str = typer.Option("DISEASE", "--first", help="First candidate release label"),
    second: str = typer.Option("SYMPTOM", "--second", help="Second candidate release label"),
    vocabulary: Optional[Path] = typer.Option(None, "--vocabulary", exists=True, help="JSONL term list (term, type)"),
    output: Path = typer.Option(..., "--output", help="Evidence JSON"),
    write_list: Optional[Path] = typer.Option(None, "--write-list", help="Write the reference texts labelled "
                                              "--second more often than --first, one a line"),
    top: int = typer.Option(25, "--top", help="Most frequent texts listed per class"),
):
    """Class a source label's mentions by how the reference corpora (and a vocabulary) label their texts."""
    reference_mentions = list(_mentions(reference))
    evidence = label_evidence(_mentions(source), reference_mentions, label, (first, second),
                              _vocabulary(vocabulary) if vocabulary else None, top)
    evidence.update(sources=[str(p) for p in source], references=[str(p) for p in reference],
                    vocabulary=str(vocabulary) if vocabulary else None)
    if write_list is not None:
        texts = majority_texts(reference_mentions, second, first)
        write_list.parent.mkdir(parents=True, exist_ok=True)
        header = (f"# Mention texts that {', '.join(str(p) for p in reference)} label {second} more often than "
                  f"{first}\n# (lowercased; written by `python scripts/label_evidence.py --write-list`).\n")
        write_list.write_text(header + "".join(f"{t}\n" for t in texts), encoding="utf-8")
        listed = set(texts)
        counts: Dict[str, int] = {}
        for text, lab in _mentions(source):
            if lab == label and normalise_text(text) in listed:
                counts[normalise_text(text)] = counts.get(normalise_text(text), 0) + 1
        evidence["list"] = {"path": str(write_list), "texts": len(texts), "source_mentions_listed": sum(counts.values()),
                            "source_texts_listed": len(counts)}
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, evidence)
    typer.echo(f"{evidence['mentions']} {label} mentions ({evidence['texts']} texts)")
    for key in ("by_reference_labels", "by_vocabulary"):
        for row_class, row in (evidence.get(key) or {}).items():
            typer.echo(f"  {key} {row_class}: {row['mentions']} mentions, {row['texts']} texts; "
                       f"top {[t for t, *_ in row['top'][:10]]}")
    if "list" in evidence:
        typer.echo(f"  list {write_list}: {evidence['list']['texts']} texts; it covers "
                   f"{evidence['list']['source_mentions_listed']} of the {label} mentions")


if __name__ == "__main__":
    app(prog_name="label_evidence.py")
