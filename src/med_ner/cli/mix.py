"""Corpus-mix commands: `label-evidence` (how reference corpora and a term
vocabulary label one source label's mention texts; writes the list a
per-mention rule reads) and `evaluate-mix` (one pipeline on every corpus's
test split, through the harmonisation table)."""
import json
from pathlib import Path
from typing import Dict, List, Optional

import srsly
import typer

from med_ner.cli.app import app, fail, inference_option
from med_ner.corpus.conversion import ConversionError
from med_ner.training.harmonise import label_evidence, majority_texts, normalise_text
from med_ner.training.mix import MixError, mix_corpora
from med_ner.inference.loading import PipelineError
from med_ner.evaluation.evaluate import evaluate_mix, markdown_table, mix_markdown


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


@app.command("label-evidence")
def label_evidence_command(
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
                  f"{first}\n# (lowercased; written by `python -m med_ner label-evidence --write-list`).\n")
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


@app.command("evaluate-mix")
def evaluate_mix_command(
    model: str = typer.Argument(..., help="Pipeline directory or installed package name"),
    corpora: str = typer.Option("", "--corpora", help="Comma-separated corpus names (harmonisation table)"),
    config: Optional[Path] = typer.Option(None, "--config", exists=True, dir_okay=False,
                                          help="Or: the mix config whose corpora to score"),
    corpus_dir: Path = typer.Option(Path("corpus"), "--corpus-dir", help="Holds <corpus>/<split>.spacy"),
    harmonisation: Path = typer.Option(Path("configs/label_harmonisation.yml"), "--harmonisation", exists=True),
    split: str = typer.Option("test", "--split", help="Split to score"),
    train_split: str = typer.Option("train", "--train-split", help="Split whose mentions count as seen ('' for none)"),
    output: Path = typer.Option(..., "--output", help="Directory: <corpus>/<split>.json and .md, and <split>.json/.md over all"),
    code: Optional[str] = typer.Option(None, "--code", help="Python files with registered functions, comma-separated"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="GPU id, or -1 for CPU"),
    cpu_int8: bool = typer.Option(False, "--cpu-int8", help="Score with int8 transformer inference on CPU"),
    inference: Optional[str] = inference_option(),
):
    """Score one pipeline on several corpora's splits, each on the labels it annotates."""
    names = [name.strip() for name in corpora.split(",") if name.strip()]
    if bool(names) == bool(config):
        fail("give either --corpora or --config")
    try:
        if config is not None:
            names = mix_corpora(config)
        result = evaluate_mix(model, corpus_dir, names, harmonisation, split, train_split or None, gpu_id,
                              code=code, inference=inference or ("int8" if cpu_int8 else None))
    except (PipelineError, MixError, ConversionError, ValueError) as err:
        fail(str(err))
    for name, metrics in result["corpora"].items():
        metrics["cpu_int8"] = cpu_int8
        metrics["inference"] = inference
        (output / name).mkdir(parents=True, exist_ok=True)
        srsly.write_json(output / name / f"{split}.json", metrics)
        (output / name / f"{split}.md").write_text(markdown_table(metrics), encoding="utf-8")
    srsly.write_json(output / f"{split}.json", result)
    table = mix_markdown(result)
    (output / f"{split}.md").write_text(table, encoding="utf-8")
    typer.echo(table)


@app.command("teacher-fill")
def teacher_fill_command(
    teacher: str = typer.Argument(..., help="Teacher pipeline (directory or installed package), trained on fully "
                                  "annotated corpora in the release labels"),
    corpora: str = typer.Option(..., "--corpora", help="Comma-separated partially annotated corpora to fill"),
    corpus_dir: Path = typer.Option(Path("corpus"), "--corpus-dir", help="Holds <corpus>/<split>.spacy"),
    harmonisation: Path = typer.Option(Path("configs/label_harmonisation.yml"), "--harmonisation", exists=True),
    split: str = typer.Option("train", "--split", help="Split to fill (dev and test stay gold only)"),
    output: Path = typer.Option(..., "--output", help="New corpus directory: the filled splits, and a copy of every "
                                "other <corpus>/<split>.spacy of --corpus-dir"),
    code: Optional[str] = typer.Option(None, "--code", help="Python files with registered functions, comma-separated"),
    inference: Optional[str] = inference_option(),
):
    """Add a teacher's mentions of the labels a corpus does not annotate (doc.spans["teacher"]; gold untouched).
    Train on them with --corpora.train.silver_spans_key teacher --paths.corpus_dir <output>."""
    import shutil

    from med_ner.training.harmonise import load_harmonisation
    from med_ner.training.mix import split_path
    from med_ner.corpus.teacher import TeacherError, check_teacher, teacher_fill
    from med_ner.inference.loading import load_pipeline

    names = [name.strip() for name in corpora.split(",") if name.strip()]
    if not names:
        fail("--corpora names no corpus")
    if output.resolve() == corpus_dir.resolve():
        fail(f"--output {output} is --corpus-dir: write the filled corpora to a new directory")
    try:
        table = load_harmonisation(harmonisation)
    except ConversionError as err:
        fail(str(err))
    for name in names:
        if name not in table:
            fail(f"{harmonisation}: no entry for corpus {name!r} (it lists {', '.join(table)})")
        if not table[name].partial:
            fail(f"corpus {name!r} annotates every release label: a teacher has nothing to fill")
        if not split_path(corpus_dir, name, split).exists():
            fail(f"not found: {split_path(corpus_dir, name, split)}")
    try:
        nlp = load_pipeline(teacher, code, inference=inference)
        check_teacher(nlp, next(iter(table.values())).release_labels)
    except (PipelineError, TeacherError) as err:
        fail(str(err))
    for source in sorted(corpus_dir.glob("*/*.spacy")):
        target = output / source.relative_to(corpus_dir)
        if not (source.parent.name in names and source.stem == split):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    for name in names:
        try:
            report = teacher_fill(nlp, split_path(corpus_dir, name, split), split_path(output, name, split), table[name])
        except (TeacherError, ValueError) as err:
            fail(f"{split_path(corpus_dir, name, split)}: {err}")
        report["teacher"] = teacher
        report["inference"] = inference
        (output / name / "reports").mkdir(parents=True, exist_ok=True)
        srsly.write_json(output / name / "reports" / f"teacher_{split}.json", report)
        typer.echo(f"{name} {split}: {report['documents']} documents, {report['gold_entities']} gold entities, "
                   f"{report['silver_kept_total']} silver mentions kept {report['silver_kept']}")
