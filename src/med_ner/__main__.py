from med_ner.cli import app

app(prog_name="med-ner")
