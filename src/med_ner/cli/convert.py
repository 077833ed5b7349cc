
# ---- from corpus/brat.py

def main(
    input_path: Path = typer.Argument(..., help="Folder of BRAT .txt/.ann pairs, or one .txt or .ann file"),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    ids: Optional[Path] = typer.Option(
        None, "--ids", help="Convert only these documents: one stem a line (blank lines and # comments ignored)"
    ),
    label_map: Optional[Path] = typer.Option(None, "--label-map", help="JSON label map; without it all labels pass"),
    report_path: Optional[Path] = typer.Option(None, "--report", help="Report JSON (default: reports/ beside output)"),
    lang: str = typer.Option("en", "--lang", help="Language of the tokenizer: en or es"),
    misaligned: str = typer.Option(
        "expand", "--misaligned", help="Span edges inside a token: expand, contract (both reported) or error"
    ),
    split_sentences: bool = typer.Option(
        True, "--split-sentences/--no-split-sentences", help="Make each line of the text a sentence (doc.sents)"
    ),
    one_doc_per_line: bool = typer.Option(
        False, "--one-doc-per-line", help="One Doc per non-empty line (eHealth-KD); entities crossing a line are dropped"
    ),
    annotated_lines_only: bool = typer.Option(
        False, "--annotated-lines-only", help="With --one-doc-per-line: skip lines without any T annotation"
    ),
):
    """Convert BRAT standoff to a DocBin and write a conversion report."""
    if misaligned not in ("expand", "contract", "error"):
        raise typer.BadParameter("--misaligned must be expand, contract or error")
    if lang not in ("en", "es"):
        raise typer.BadParameter("--lang must be en or es")
    if annotated_lines_only and not one_doc_per_line:
        raise typer.BadParameter("--annotated-lines-only needs --one-doc-per-line")
    convert_and_report(
        convert_brat, input_path, output_path, label_map, report_path, lang=lang, misaligned=misaligned,
        ids_path=ids, split_sentences=split_sentences, one_doc_per_line=one_doc_per_line,
        annotated_lines_only=annotated_lines_only,
    )


if __name__ == "__main__":
    typer.run(main)

# ---- from corpus/iob.py

def main(
    input_path: Path = typer.Argument(..., help="IOB file: one token per line, blank line between sentences"),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    label_map: Optional[Path] = typer.Option(None, "--label-map", help="JSON label map; without it all labels pass"),
    report_path: Optional[Path] = typer.Option(None, "--report", help="Report JSON (default: reports/ beside output)"),
    scheme: str = typer.Option("auto", "--scheme", help="auto, iob1 or iob2"),
    sep: str = typer.Option("auto", "--sep", help="Column separator: auto (TAB if the line has one), tab or space"),
    token_column: int = typer.Option(0, "--token-column", help="Column of the token (0-based; negative from the end)"),
    tag_column: int = typer.Option(-1, "--tag-column", help="Column of the NER tag (0-based; negative from the end)"),
    n_sents: int = typer.Option(10, "--n-sents", help="Sentences per document when the file has no -DOCSTART-"),
    lang: str = typer.Option("en", "--lang", help="Language of the vocab"),
):
    """Convert an IOB1/IOB2 column file to a DocBin and write a conversion report."""
    if scheme not in ("auto", "iob1", "iob2"):
        raise typer.BadParameter("--scheme must be auto, iob1 or iob2")
    if sep not in ("auto", "tab", "space"):
        raise typer.BadParameter("--sep must be auto, tab or space")
    convert_and_report(
        convert_iob, input_path, output_path, label_map, report_path, scheme=scheme, sep=sep,
        token_column=token_column, tag_column=tag_column, n_sents=n_sents, lang=lang,
    )


if __name__ == "__main__":
    typer.run(main)

# ---- from corpus/jsonl.py

def main(
    input_path: Path = typer.Argument(..., help="JSONL file of texts with character-offset spans"),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    label_map: Optional[Path] = typer.Option(None, "--label-map", help="JSON label map; without it all labels pass"),
    report_path: Optional[Path] = typer.Option(None, "--report", help="Report JSON (default: reports/ beside output)"),
    lang: str = typer.Option("en", "--lang", help="Language of the tokenizer"),
    misaligned: str = typer.Option(
        "expand", "--misaligned", help="Span edges inside a token: expand, contract (both reported) or error"
    ),
):
    """Convert JSONL spans to a DocBin and write a conversion report."""
    if misaligned not in ("expand", "contract", "error"):
        raise typer.BadParameter("--misaligned must be expand, contract or error")
    convert_and_report(convert_jsonl, input_path, output_path, label_map, report_path, lang=lang, misaligned=misaligned)


if __name__ == "__main__":
    typer.run(main)

# ---- from corpus/corpora.py

def main(
    corpus: str = typer.Argument(..., help="Name of the corpus in the corpus table"),
    output: Path = typer.Option(..., "--output", help="Directory for train.spacy, dev.spacy, test.spacy"),
    table: Path = typer.Option(Path("configs/corpora.yml"), "--table", help="Corpus table"),
    assets: Path = typer.Option(Path("assets"), "--assets", help="Folder holding assets/<corpus>/"),
):
    """Convert every split of one corpus and write a report per file."""
    corpora = load_corpora(table)
    if corpus not in corpora:
        typer.echo(f"error: unknown corpus {corpus!r}; {table} lists: {', '.join(corpora)}", err=True)
        raise typer.Exit(1)
    entry = corpora[corpus]
    try:
        label_map = LabelMap.from_file(Path(entry["label_map"]) if entry.get("label_map") else None)
        for split in SPLITS:
            for line in convert_split(entry, split, assets / corpus, output, label_map):
                typer.echo(line)
    except ConversionError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
