"""`med-ner vocab`: the term lists of the terminology matcher, from installed packages."""
import json
from pathlib import Path

import typer

from med_ner.cli.app import app, fail
from med_ner.components.terminology_vocab import VocabError, write_vocab


@app.command("vocab")
def vocab(
    output: Path = typer.Option(Path("vocab"), "--output", "-o", help="Directory for terms.jsonl and report.json"),
):
    """Build the drug, phenotype and disease term lists from the installed vocabulary packages (offline)."""
    from med_ner.outputs import OutputError

    try:
        report = write_vocab(output)
    except (VocabError, OutputError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"{err.filename or output}: cannot write the term list ({err.strerror})")
    typer.echo(json.dumps({k: report[k] for k in ("terms", "distinct_match_keys", "per_type")}))
    for source in report["sources"]:
        typer.echo(f"{source['source']} ({source['package']} {source['version']}): {source['per_type']}")
    typer.echo(f"-> {output / 'terms.jsonl'}, {output / 'report.json'}")
