"""Which analytes a pipeline tags DRUG in lab-result sentences: the check behind
"creatinine is a test, not a drug". A project script, not part of the med_ner wheel:

    python scripts/analytes_as_drug.py training/release/model-final corpus/MACCROBAT/test.spacy \
        corpus/sample/test.spacy --analytes assets/labels/analyte_texts.txt --output metrics/analytes.json

An analyte mention is a predicted entity whose lowercased text, without a leading specimen word
("serum", "plasma", ...), is on the list; its sentence is a lab-result sentence when it holds a digit
(sentences end at ".", ";" or a line break that is not inside a number).
"""
import re
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List

import srsly
import typer

from med_ner.cli.app import fail
from med_ner.components.analyte_labels import analyte_name, read_analytes, sentence_around
from med_ner.inference.loading import PipelineError, load_pipeline

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def check_docs(docs: Iterable, analytes: set) -> Dict:
    """Analyte mentions the pipeline predicted, by label, in lab-result sentences
    and elsewhere; the DRUG ones of lab-result sentences listed with their sentence."""
    by_label = {"lab_result_sentences": Counter(), "other_sentences": Counter()}
    as_drug: List[Dict] = []
    for doc in docs:
        for ent in doc.ents:
            name = analyte_name(ent.text, analytes)
            if not name:
                continue
            sentence = sentence_around(doc.text, ent.start_char, ent.end_char)
            where = "lab_result_sentences" if re.search(r"\d", sentence) else "other_sentences"
            by_label[where][ent.label_] += 1
            if ent.label_ == "DRUG" and where == "lab_result_sentences":
                as_drug.append({"analyte": name, "text": ent.text, "sentence": sentence.strip()[:200]})
    return {"analyte_mentions": {k: dict(v) for k, v in by_label.items()},
            "drug_in_lab_result_sentences": len(as_drug), "examples": as_drug}


@app.command()
def main(
    model: str = typer.Argument(..., help="Pipeline (directory or installed package)"),
    data: List[Path] = typer.Argument(..., help="DocBins whose texts are predicted", exists=True, dir_okay=False),
    analytes: Path = typer.Option(Path("assets/labels/analyte_texts.txt"), "--analytes", exists=True,
                                  help="Analyte names, one a line"),
    output: Path = typer.Option(..., "--output", help="JSON: per DocBin, analyte mentions by label"),
):
    """Predict each DocBin's texts and count the analytes tagged DRUG in lab-result sentences."""
    import spacy
    from spacy.tokens import DocBin

    try:
        nlp = load_pipeline(model)
    except PipelineError as err:
        fail(str(err))
    names = read_analytes(analytes)
    result = {"model": model, "analytes": str(analytes), "files": {}}
    for path in data:
        texts = [doc.text for doc in DocBin().from_disk(path).get_docs(spacy.blank("en").vocab)]
        result["files"][str(path)] = check_docs(nlp.pipe(texts), names)
    srsly.write_json(output, result)
    typer.echo("| data | analyte mentions in lab-result sentences (by label) | tagged DRUG |")
    typer.echo("| --- | --- | ---: |")
    for path, row in result["files"].items():
        labels = ", ".join(f"{k} {v}" for k, v in sorted(row["analyte_mentions"]["lab_result_sentences"].items()))
        typer.echo(f"| {path} | {labels} | {row['drug_in_lab_result_sentences']} |")


if __name__ == "__main__":
    app()
