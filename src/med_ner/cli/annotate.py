"""`annotate`: batch annotation to JSONL (and a DocBin), locally or on Dask."""
from pathlib import Path
from typing import Optional

import typer

from med_ner.prediction.annotate import InputError, annotate, summary
from med_ner.cli.app import CODE_OPTION, INFERENCE_OPTION, MODEL_OPTION, THRESHOLD_OPTION, app, fail
from med_ner.inference.loading import PipelineError


@app.command("annotate")
def annotate_command(
    input_path: Path = typer.Argument(..., help="Directory of .txt files, a .txt, .jsonl or .spacy file", exists=True),
    output: Path = typer.Argument(..., help="Output JSONL"),
    model: str = MODEL_OPTION,
    docbin: Optional[Path] = typer.Option(None, "--docbin", help="Also write a DocBin of the annotated documents"),
    batch_size: int = typer.Option(32, "--batch-size", help="Documents per nlp.pipe batch"),
    threads: int = typer.Option(0, "--threads", help="Torch threads per process (0: cores, shared among workers)"),
    partition_size: int = typer.Option(200, "--partition-size", help="Documents per partition (unit of resume)"),
    dask: Optional[str] = typer.Option(None, "--dask", help="'local' for a LocalCluster, a scheduler address, or '' for local nlp.pipe"),
    workers: int = typer.Option(2, "--workers", help="Workers of the LocalCluster"),
    lang: str = typer.Option("en", "--lang", help="Language of the DocBin output's tokenizer"),
    stats: Optional[Path] = typer.Option(None, "--stats", help="Write counts and speed as JSON"),
    code: Optional[str] = CODE_OPTION,
    inference: Optional[str] = INFERENCE_OPTION,
    threshold: Optional[float] = THRESHOLD_OPTION,
):
    """Annotate documents; every input id comes out exactly once, and a rerun resumes."""
    try:  # outputs are checked (and the stats written) in annotate()
        result = annotate(input_path, output, model, stats=stats, code=code, batch_size=batch_size, threads=threads,
                          partition_size=partition_size, dask=dask or None, workers=workers, docbin=docbin, lang=lang,
                          inference=inference, threshold=threshold)
    except (InputError, PipelineError) as err:  # ConversionErrors of the input arrive as InputError
        fail(str(err))
    typer.echo(summary(result, output))
