"""`med-ner convert ...`: BRAT, CoNLL/IOB and JSONL readers, the corpus table
dispatcher (one corpus, or every corpus of a mix config), and the document split."""
from pathlib import Path
from typing import Callable, Optional, Tuple

import typer

from med_ner.cli.app import (ASSETS_OPTION, LABEL_MAP_OPTION, MISALIGNED_OPTION, REPORT_OPTION, TABLE_OPTION,
                             check_paths, convert_app, fail)
from med_ner.corpus.brat import convert_brat
from med_ner.corpus.conversion import ConversionReport, LabelMap, default_report_path
from med_ner.corpus.reading import ConversionError
from med_ner.corpus.corpora import CorpusTable, convert_split, entry_splits
from med_ner.corpus.iob import convert_iob
from med_ner.training.mix import MixError, mix_corpora
from med_ner.corpus.jsonl import convert_jsonl
from med_ner.corpus.split import document_stems, write_split
from med_ner.corpus.split import SPLITS as SPLIT_NAMES


def convert_and_report(convert: Callable[..., ConversionReport], input_path: Path, output_path: Path,
                       label_map_path: Optional[Path], report_path: Optional[Path], **options) -> None:
    """The body of every converter command: convert, write the report, print its summary."""
    check_paths([("output", output_path), ("--report", report_path or default_report_path(output_path))],
                [("input", input_path), ("--label-map", label_map_path), ("--ids", options.get("ids_path")),
                 ("--attributes", options.get("attributes"))])
    from med_ner.outputs import output_group

    try:
        with output_group():  # the DocBin and its report, or the old pair
            report = convert(input_path, output_path, LabelMap.from_file(label_map_path), **options)
            report.write(report_path or default_report_path(output_path))
    except ConversionError as err:
        fail(str(err))
    typer.echo(report.summary())


# The converters check their options' values (med_ner.corpus.conversion.check_options).
OUTPUT_ARGUMENT = typer.Argument(..., help="Output .spacy file")


@convert_app.command("brat")
def convert_brat_command(
    input_path: Path = typer.Argument(..., help="Folder of BRAT .txt/.ann pairs, or one .txt or .ann file"),
    output_path: Path = OUTPUT_ARGUMENT,
    ids: Optional[Path] = typer.Option(None, "--ids", help="Convert only these documents: one stem a line "
                                       "(blank lines and # comments ignored)"),
    label_map: Optional[Path] = LABEL_MAP_OPTION,
    report_path: Optional[Path] = REPORT_OPTION,
    lang: str = typer.Option("en", "--lang", help="Language of the tokenizer: en or es"),
    misaligned: str = MISALIGNED_OPTION,
    split_sentences: bool = typer.Option(True, "--split-sentences/--no-split-sentences",
                                         help="Make each line of the text a sentence (doc.sents)"),
    one_doc_per_line: bool = typer.Option(False, "--one-doc-per-line", help="One Doc per non-empty line "
                                          "(eHealth-KD); entities crossing a line are dropped"),
    annotated_lines_only: bool = typer.Option(False, "--annotated-lines-only",
                                              help="With --one-doc-per-line: skip lines without any T annotation"),
    attributes: Optional[Path] = typer.Option(None, "--attributes", help="Attribute label map (JSON, as --label-map): "
                                              "keep those types in doc.spans['attributes'] and MODIFY relations in "
                                              "doc.user_data['links']"),
):
    """Convert BRAT standoff to a DocBin and write a conversion report."""
    if lang not in ("en", "es"):
        fail("--lang must be en or es")
    if annotated_lines_only and not one_doc_per_line:
        fail("--annotated-lines-only needs --one-doc-per-line")
    convert_and_report(convert_brat, input_path, output_path, label_map, report_path, lang=lang, misaligned=misaligned,
                       ids_path=ids, split_sentences=split_sentences, one_doc_per_line=one_doc_per_line,
                       annotated_lines_only=annotated_lines_only, attributes=attributes)


@convert_app.command("iob")
def convert_iob_command(
    input_path: Path = typer.Argument(..., help="IOB file: one token per line, blank line between sentences"),
    output_path: Path = OUTPUT_ARGUMENT,
    label_map: Optional[Path] = LABEL_MAP_OPTION,
    report_path: Optional[Path] = REPORT_OPTION,
    scheme: str = typer.Option("auto", "--scheme", help="auto, iob1 or iob2"),
    sep: str = typer.Option("auto", "--sep", help="Column separator: auto (TAB if the line has one), tab or space"),
    token_column: int = typer.Option(0, "--token-column", help="Column of the token (0-based; negative from the end)"),
    tag_column: int = typer.Option(-1, "--tag-column", help="Column of the NER tag (0-based; negative from the end)"),
    n_sents: int = typer.Option(10, "--n-sents", help="Sentences per document when the file has no -DOCSTART-"),
    lang: str = typer.Option("en", "--lang", help="Language of the vocab"),
):
    """Convert an IOB1/IOB2 column file to a DocBin and write a conversion report."""
    convert_and_report(convert_iob, input_path, output_path, label_map, report_path, scheme=scheme, sep=sep,
                       token_column=token_column, tag_column=tag_column, n_sents=n_sents, lang=lang)


@convert_app.command("jsonl")
def convert_jsonl_command(
    input_path: Path = typer.Argument(..., help="JSONL file of texts with character-offset spans"),
    output_path: Path = OUTPUT_ARGUMENT,
    lang: str = typer.Option("en", "--lang", help="Language of the tokenizer"),
    misaligned: str = MISALIGNED_OPTION,
    label_map: Optional[Path] = LABEL_MAP_OPTION,
    report_path: Optional[Path] = REPORT_OPTION,
):
    """Convert JSONL spans to a DocBin and write a conversion report."""
    convert_and_report(convert_jsonl, input_path, output_path, label_map, report_path, lang=lang, misaligned=misaligned)


def convert_table_corpus(corpus: str, output: Path, table: Path, assets: Path) -> None:
    """Convert every split of one corpus of the table; the whole entry is checked
    before anything is written, and bad input stops with `error:`."""
    try:
        entry = CorpusTable(table).entry(corpus, assets / corpus)
        label_map = LabelMap.from_file(Path(entry["label_map"]) if entry.get("label_map") else None)
        for split in entry_splits(entry):
            for line in convert_split(entry, split, assets / corpus, output, label_map):
                typer.echo(line)
    except ConversionError as err:
        fail(str(err))


@convert_app.command("corpus")
def convert_corpus_command(
    corpus: str = typer.Argument(..., help="Name of the corpus in the corpus table"),
    output: Path = typer.Option(..., "--output", help="Directory for train.spacy, dev.spacy, test.spacy"),
    table: Path = TABLE_OPTION,
    assets: Path = ASSETS_OPTION,
):
    """Convert every split of one corpus and write a report per file."""
    convert_table_corpus(corpus, output, table, assets)


@convert_app.command("mix")
def convert_corpora_command(
    config: Path = typer.Argument(..., help="A corpus-mix config: converts every corpus its train and dev readers name",
                                  exists=True, dir_okay=False),
    output: Path = typer.Option(Path("corpus"), "--output", help="Directory for <corpus>/{train,dev,test}.spacy"),
    table: Path = TABLE_OPTION,
    assets: Path = ASSETS_OPTION,
):
    """Convert every corpus of a mix config, each into <output>/<corpus>/."""
    try:
        names = mix_corpora(config)
    except MixError as err:
        fail(str(err))
    for name in names:
        typer.echo(f"== {name}")
        convert_table_corpus(name, output / name, table, assets)


@convert_app.command("split")
def make_split_command(
    folder: Path = typer.Argument(..., help="Folder of BRAT .txt/.ann pairs"),
    output_dir: Path = typer.Argument(..., help="Where train.txt, dev.txt and test.txt go"),
    seed: int = typer.Option(13, "--seed", help="Seed for random.Random"),
    sizes: Tuple[int, int, int] = typer.Option((160, 20, 20), "--sizes", help="Documents in train, dev and test"),
):
    """Write a deterministic document-level train/dev/test split."""
    # A document of the folder named train/dev/test is an input the id lists must not replace.
    check_paths([(f"{name} id list", output_dir / f"{name}.txt") for name in SPLIT_NAMES],
                [("document", folder / f"{name}.txt") for name in SPLIT_NAMES if (folder / f"{name}.txt").exists()])
    try:
        _, unpaired = document_stems(folder)
        paths = write_split(folder, output_dir, seed, sizes)
    except (ValueError, ConversionError) as err:
        fail(str(err))
    if unpaired:
        typer.echo(f"left out (no partner file): {', '.join(unpaired)}")
    for name, path in paths.items():
        typer.echo(f"{name}: {sizes[SPLIT_NAMES.index(name)]} documents -> {path}")
