"""The bad inputs of issue 16 and the answer each gets, as data.

tests/cli/test_bad_input.py runs every case through the CLI (in process, with
typer's CliRunner) and checks the answer; the "Bad input" table of docs/data.md is
rendered from this list (`python tests/bad_input_cases.py` prints it) and a
test checks that the page holds exactly that table
(`python tests/bad_input_cases.py --write` puts it there).

A case writes `files` (text or bytes; a name ending in "/" is a folder;
"PIPELINE" a saved entity_ruler pipeline of its own) into a
fresh folder, runs `args` there ({model} is a saved entity_ruler pipeline,
{blank} a saved pipeline with a component that is not registered, {zz} one
whose language is unknown, {truncated} one whose ner/model holds half its bytes) with
`stdin`, and expects `exit_code` and `answer` in the output (stderr for an
error, stdout or the written report otherwise).
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Union


@dataclass
class Case:
    id: str
    bad_input: str  # what a user gave, in words, for the docs
    args: List[str]
    answer: str  # a fragment of the message the user gets
    files: Dict[str, Union[str, bytes]] = field(default_factory=dict)
    stdin: Optional[Union[str, bytes]] = None
    exit_code: int = 1
    absent: List[str] = field(default_factory=list)  # paths that must not exist afterwards
    unchanged: List[str] = field(default_factory=list)  # files or folders whose content must stay as written
    outcome: str = ""  # for an accepted input: what happens, in words


def jsonl(*records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


LABELS = json.dumps({"labels": ["SYMPTOM", "DRUG", "DISEASE"]})
BRAT_TXT = "No fever today.\n"
CORPUS_OK = "x:\n  format: jsonl\n  splits:\n    train: [{path: a.jsonl}]\n    dev: [{path: a.jsonl}]\n    test: [{path: a.jsonl}]\n"
ONE = jsonl({"text": "fever", "spans": [{"start": 0, "end": 5, "label": "SYMPTOM"}]})

CASES = [
    # JSONL converter
    Case("jsonl-raw-u2028", "JSONL with a raw U+2028 / U+0085 inside a string (valid JSON)",
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "1 documents in, 1 out",
         {"in.jsonl": '{"text": "fever\u2028and\x85pain", "spans": [{"start": 0, "end": 5, "label": "SYMPTOM"}]}\n'},
         exit_code=0,
         outcome="read as text; lines end at \\n only"),
    Case("jsonl-entities-dicts", "spaCy-style `entities` as dicts",
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "entities out: {'SYMPTOM': 1}",
         {"in.jsonl": jsonl({"text": "fever", "entities": [{"start": 0, "end": 5, "label": "SYMPTOM"}]})}, exit_code=0,
         outcome="read"),
    Case("jsonl-entities-lists", "spaCy-style `entities` as `[start, end, label]` lists",
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "entities out: {'SYMPTOM': 1}",
         {"in.jsonl": jsonl({"text": "fever", "entities": [[0, 5, "SYMPTOM"]]})}, exit_code=0,
         outcome="read"),
    Case("jsonl-label-studio", "Label Studio export (`data.text`, `annotations[].result[].value`)",
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "entities out: {'SYMPTOM': 1}",
         {"in.jsonl": jsonl({"id": 7, "data": {"text": "fever"}, "annotations": [{"result": [
             {"type": "labels", "value": {"start": 0, "end": 5, "text": "fever", "labels": ["SYMPTOM"]}}]}]})},
         exit_code=0,
         outcome="read (one annotation per task; other result types counted in the report)"),
    Case("jsonl-unknown-span-key", "spans under a key the converter does not read (`ents`)",
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "in.jsonl:1: key 'ents' looks like spans",
         {"in.jsonl": jsonl({"text": "fever", "ents": [{"start": 0, "end": 5, "label": "SYMPTOM"}]})}),
    Case("jsonl-two-span-keys", "a `label` list next to `spans`",
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "in.jsonl:1: spans under both 'spans' and 'label'",
         {"in.jsonl": jsonl({"text": "fever", "spans": [], "label": [[0, 5, "SYMPTOM"]]})}),
    Case("jsonl-spans-not-list", '`"spans": 5`',
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "in.jsonl:1: 'spans' must be a list, not int",
         {"in.jsonl": '{"text": "fever", "spans": 5}\n'}),
    Case("jsonl-start-true", '`"start": true`',
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "in.jsonl:1: span needs integer start/end",
         {"in.jsonl": '{"text": "fever", "spans": [{"start": true, "end": 5, "label": "SYMPTOM"}]}\n'}),
    Case("jsonl-duplicate-id", "two records with one id",
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "in.jsonl:2: id 'a' repeats line 1",
         {"in.jsonl": jsonl({"id": "a", "text": "x"}, {"id": "a", "text": "y"})}),
    Case("jsonl-label-string", '`"label": "SYMPTOM"` (a string)',
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "in.jsonl:1: 'label' must be a list of [start, end, label]",
         {"in.jsonl": '{"text": "fever", "label": "SYMPTOM"}\n'}),
    Case("jsonl-all-rejected", "every record rejected (nothing to write)",
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "in.jsonl: no documents to write",
         {"in.jsonl": jsonl({"text": "x", "answer": "reject"})}, absent=["out.spacy"]),
    Case("jsonl-lone-surrogate", "JSONL whose text escapes a lone surrogate (`\\ud800`)",
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "in.jsonl:1: holds a lone surrogate",
         {"in.jsonl": '{"text": "a \\ud800 fever"}\n'}, absent=["out.spacy"]),
    Case("output-is-directory", "an output path that is a folder",
         ["convert", "jsonl", "in.jsonl", "out"], "out: is a directory, but the output is a file",
         {"in.jsonl": ONE, "out/": ""}),
    Case("lang-unknown", "`--lang zz`",
         ["convert", "jsonl", "in.jsonl", "out.spacy", "--lang", "zz"], "--lang: spaCy has no language 'zz'",
         {"in.jsonl": ONE}, absent=["out.spacy"]),
    Case("label-map-map-not-object", "a label map whose `map` is not an object",
         ["convert", "jsonl", "in.jsonl", "out.spacy", "--label-map", "map.json"],
         "map.json: 'map' must be an object", {"in.jsonl": ONE, "map.json": '{"labels": ["SYMPTOM"], "map": [1]}'}),
    # IOB converter
    Case("iob-directory", "a directory as the IOB input",
         ["convert", "iob", "data", "out.spacy"], "data: is a directory, not a file", {"data/": ""}),
    Case("iob-docstart-only", "an IOB file of only `-DOCSTART-`",
         ["convert", "iob", "in.iob", "out.spacy"], "in.iob: no documents to write",
         {"in.iob": "-DOCSTART- -X- O O\n\n"}, absent=["out.spacy"]),
    Case("iob-token-column", "`--token-column 5` on a two-column file",
         ["convert", "iob", "in.iob", "out.spacy", "--token-column", "5"],
         "in.iob:1: --token-column 5: the line has 2 columns", {"in.iob": "fever\tB-SYMPTOM\n"}),
    Case("iob-inner-space", "a TAB-separated token with a space inside (`chest NN<TAB>B-X`)",
         ["convert", "iob", "in.iob", "out.spacy"], "in.iob:1: token 'chest NN' holds whitespace",
         {"in.iob": "chest NN\tB-BODY_PART\n"}),
    Case("iob-trailing-space", "a TAB-separated token with trailing whitespace (`word <TAB>B-X`)",
         ["convert", "iob", "in.iob", "out.spacy"], "whitespace: token 'fever ' trimmed",
         {"in.iob": "fever \tB-SYMPTOM\n"}, exit_code=0,
         outcome="trimmed; the report lists the token and its entity"),
    Case("iob-blank-token", "a whitespace-only token inside an entity",
         ["convert", "iob", "in.iob", "out.spacy"], "in.iob:2: token is only whitespace",
         {"in.iob": "aspirin\tB-DRUG\n \tI-DRUG\n"}),
    # BRAT converter
    Case("brat-duplicate-event-id", "BRAT: one `E` id used twice",
         ["convert", "brat", "doc.ann", "out.spacy"], "doc.ann:3: id E1 is used twice",
         {"doc.txt": BRAT_TXT, "doc.ann": "T1\tSign_symptom 3 8\tfever\nE1\tSign_symptom:T1 \nE1\tSign_symptom:T1 \n"}),
    Case("brat-event-polarity-conflict", "BRAT: two events on one trigger with different POLARITY",
         ["convert", "brat", "doc.ann", "out.spacy"], "attribute_conflicts",
         {"doc.txt": BRAT_TXT, "doc.ann": "T1\tSign_symptom 3 8\tfever\nE1\tSign_symptom:T1 \nE2\tSign_symptom:T1 \n"
                                          "A1\tPOLARITY E1 NEG\nA2\tPOLARITY E2 POS\n"}, exit_code=0,
         outcome="the first attribute line wins; the report lists the losing line"),
    Case("brat-duplicate-span-polarity", "BRAT: POLARITY only on the dropped copy of a duplicate span",
         ["convert", "brat", "doc.ann", "out.spacy"], "carried over to the kept span: POLARITY='NEG'",
         {"doc.txt": BRAT_TXT, "doc.ann": "T1\tSign_symptom 3 8\tfever\nT2\tSign_symptom 3 8\tfever\n"
                                          "A1\tPOLARITY T2 NEG\n"}, exit_code=0,
         outcome="carried over to the kept copy; its report line says so"),
    Case("brat-relation-unknown-id", "BRAT: an `R` line whose Arg2 is not a T or E id",
         ["convert", "brat", "doc.ann", "out.spacy"], "doc.ann:2: relation R1 (MODIFY) has Arg2 'E9', which is not a T or E",
         {"doc.txt": BRAT_TXT, "doc.ann": "T1\tSign_symptom 3 8\tfever\nR1\tMODIFY Arg1:T1 Arg2:E9\t\n"},
         absent=["out.spacy"]),
    Case("brat-relation-no-arg2", "BRAT: an `R` line without Arg2",
         ["convert", "brat", "doc.ann", "out.spacy"], "doc.ann:2: an R line is '<id>\\t<type> Arg1:<id> Arg2:<id>'",
         {"doc.txt": BRAT_TXT, "doc.ann": "T1\tSign_symptom 3 8\tfever\nR1\tMODIFY Arg1:T1\n"},
         absent=["out.spacy"]),
    # Corpus table
    Case("corpus-unknown-format", "corpus table: unknown `format`",
         ["convert", "corpus", "x", "--output", "out", "--table", "c.yml", "--assets", "."],
         "c.yml:2: corpus 'x': unknown format 'csv'", {"c.yml": CORPUS_OK.replace("jsonl", "csv", 1)},
         absent=["out"]),
    Case("corpus-missing-split", "corpus table: no `dev` split",
         ["convert", "corpus", "x", "--output", "out", "--table", "c.yml", "--assets", "."],
         "c.yml:3: corpus 'x': no 'dev' split", {"c.yml": CORPUS_OK.replace("    dev: [{path: a.jsonl}]\n", ""),
                                                 "x/a.jsonl": ONE}, absent=["out/train.spacy"]),
    Case("corpus-bad-option", "corpus table: an option the converter does not take",
         ["convert", "corpus", "x", "--output", "out", "--table", "c.yml", "--assets", "."],
         "corpus 'x': convert_jsonl takes no option 'n_sents'",
         {"c.yml": CORPUS_OK.replace("  splits:", "  options: {n_sents: 3}\n  splits:"), "x/a.jsonl": ONE},
         absent=["out"]),
    Case("corpus-bad-yaml", "corpus table that is not YAML",
         ["convert", "corpus", "x", "--output", "out", "--table", "c.yml"], "c.yml:2: not valid YAML",
         {"c.yml": "x:\n  format: [jsonl\n"}),
    # predict
    Case("predict-latin1-file", "predict `--file` that is not UTF-8 (checked before the model loads)",
         ["predict", "--file", "in.txt", "--model", "missing-model"], "in.txt:1: not valid UTF-8 (byte 0xe9",
         {"in.txt": "caf\xe9 fever".encode("latin-1")}),
    Case("predict-latin1-stdin", "predict on standard input that is not UTF-8",
         ["predict", "--model", "missing-model"], "<stdin>:1: not valid UTF-8", stdin="caf\xe9".encode("latin-1")),
    Case("predict-argument-not-utf8", "predict on a command-line text that was not UTF-8",
         ["predict", "caf\udce9", "--model", "missing-model"], "the text argument: holds a lone surrogate"),
    Case("predict-file-directory", "predict `--file` naming a folder",
         ["predict", "--file", "notes", "--model", "missing-model"], "notes: is a directory, not a file",
         {"notes/": ""}),
    Case("predict-empty-stdin", "predict on empty standard input",
         ["predict", "--model", "{model}"], "<stdin>: no text to tag", stdin=""),
    Case("predict-missing-model", "predict with a model that does not exist",
         ["predict", "fever", "--model", "no/such/model"], "cannot load pipeline 'no/such/model'"),
    Case("predict-missing-code", "predict with a `--code` file that does not exist",
         ["predict", "fever", "--model", "{model}", "--code", "nope.py"], "--code: nope.py is not a file"),
    Case("predict-broken-code", "predict with a `--code` file that does not import",
         ["predict", "fever", "--model", "{model}", "--code", "bad.py"], "--code: bad.py does not import",
         {"bad.py": "def (:\n"}),
    Case("predict-unregistered", "predict with a pipeline whose component is not registered (no `--code`)",
         ["predict", "fever", "--model", "{blank}"], "pass its functions with --code"),
    Case("predict-model-unknown-lang", "predict with a pipeline whose config names an unknown language",
         ["predict", "fever", "--model", "{zz}"], "its config names a language spaCy does not have"),
    Case("predict-model-truncated-weights", "predict with a pipeline whose weights file was cut short (a copy that "
         "stopped half way)", ["predict", "fever", "--model", "{truncated}"],
         "ner/model is damaged or truncated (Unpack failed: incomplete input); copy or install the pipeline again"),
    Case("predict-lines-separators", "predict `--lines` with U+2028, form feed and blank lines",
         ["predict", "--model", "{model}", "--lines", "--json"], '{"text": "", "ents": []}',
         stdin="fever\u2028x\n\n \x0c\nend\n", exit_code=0,
         outcome="one JSON object per input line; a blank line gives empty `ents`"),
    # annotate
    Case("annotate-missing-model", "annotate with a model that does not exist",
         ["annotate", "in.jsonl", "out.jsonl", "--model", "no/such/model"], "cannot load pipeline 'no/such/model'",
         {"in.jsonl": jsonl({"id": 1, "text": "fever"})}, absent=["out.jsonl.parts"]),
    Case("annotate-missing-code", "annotate with a `--code` file that does not exist",
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}", "--code", "nope.py"],
         "--code: nope.py is not a file", {"in.jsonl": jsonl({"id": 1, "text": "fever"})},
         absent=["out.jsonl.parts"]),
    Case("annotate-latin1-txt", "a Latin-1 `.txt` in an annotate folder",
         ["annotate", "notes", "out.jsonl", "--model", "{model}"], "a.txt:1: not valid UTF-8 (byte 0xe9",
         {"notes/a.txt": "caf\xe9".encode("latin-1")}, absent=["out.jsonl.parts"]),
    Case("annotate-partition-size-0", "annotate `--partition-size 0`",
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}", "--partition-size", "0"],
         "--partition-size must be at least 1", {"in.jsonl": jsonl({"id": 1, "text": "fever"})},
         absent=["out.jsonl.parts"]),
    Case("annotate-batch-size-0", "annotate `--batch-size 0`",
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}", "--batch-size", "0"],
         "--batch-size must be at least 1", {"in.jsonl": jsonl({"id": 1, "text": "fever"})},
         absent=["out.jsonl.parts"]),
    Case("annotate-empty-jsonl", "annotate an empty JSONL file",
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}"], "in.jsonl: no documents",
         {"in.jsonl": "\n"}, absent=["out.jsonl", "out.jsonl.parts"]),
    Case("annotate-not-docbin", "annotate a `.spacy` file that is not a DocBin",
         ["annotate", "in.spacy", "out.jsonl", "--model", "{model}"], "in.spacy: not a spaCy DocBin",
         {"in.spacy": "just text\n"}, absent=["out.jsonl.parts"]),
    Case("annotate-lone-surrogate", "annotate JSONL whose text escapes a lone surrogate",
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}"], "in.jsonl:1: holds a lone surrogate",
         {"in.jsonl": '{"id": 1, "text": "\\udce9"}\n'}, absent=["out.jsonl.parts"]),
    Case("annotate-bom", "annotate JSONL that starts with a UTF-8 BOM",
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}"], "1 documents in, 1 out",
         {"in.jsonl": "\ufeff" + jsonl({"id": 1, "text": "fever"})}, exit_code=0,
         outcome="the BOM is not text"),
    Case("annotate-u2028", "annotate a text holding U+2028 / U+2029 / U+0085",
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}"], "1 documents in, 1 out",
         {"in.jsonl": jsonl({"id": "ls", "text": "Patient has\u2028chest\u2029pain\x85."})}, exit_code=0,
         outcome="the text round-trips exactly, and a rerun resumes"),
    Case("annotate-duplicate-id", "annotate JSONL with a repeated id",
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}"], "in.jsonl:2: id '1' repeats line 1",
         {"in.jsonl": jsonl({"id": 1, "text": "a"}, {"id": 1, "text": "b"})}, absent=["out.jsonl.parts"]),
    # evaluate
    Case("evaluate-missing-model", "evaluate with a model that does not exist",
         ["evaluate", "model", "no/such/model", "gold.spacy", "--output", "m.json"], "cannot load pipeline 'no/such/model'",
         {"gold.spacy": "DOCBIN"}, absent=["m.json"]),
    Case("evaluate-empty-docbin", "evaluate on an empty DocBin",
         ["evaluate", "model", "{model}", "empty.spacy", "--output", "m.json"], "empty.spacy: no documents to evaluate",
         {"empty.spacy": "EMPTY_DOCBIN"}, absent=["m.json"]),
    Case("evaluate-output-directory", "evaluate `--output` naming a folder (checked before scoring)",
         ["evaluate", "model", "{model}", "gold.spacy", "--output", "metrics"], "metrics: is a directory",
         {"gold.spacy": "DOCBIN", "metrics/": ""}),
    # train
    Case("train-missing-corpus", "train with a `--paths.train` file that does not exist",
         ["train", "c.cfg", "--output", "out", "--paths.train", "no/train.spacy"],
         "paths.train = 'no/train.spacy': not found",
         {"c.cfg": '[paths]\ntrain = null\ndev = null\n\n[training]\n\n[training.logger]\n'
                   '@loggers = "spacy.ConsoleLogger.v1"\n'}, absent=["out"]),
    # Issue 37: outputs, line endings, repeated keys, nesting, ids, table values, sizes
    Case("convert-output-is-input", "a converter's output equal to its input",
         ["convert", "jsonl", "in.jsonl", "in.jsonl"], "in.jsonl: the output is the input",
         {"in.jsonl": ONE}),
    Case("convert-report-is-output", "`--report` equal to the output",
         ["convert", "jsonl", "in.jsonl", "out.spacy", "--report", "out.spacy"],
         "out.spacy: the --report is also the output", {"in.jsonl": ONE}, absent=["out.spacy"]),
    Case("convert-output-parent-file", "an output whose folder is a file",
         ["convert", "jsonl", "in.jsonl", "f/out.spacy"], "f is a file, not a folder", {"in.jsonl": ONE, "f": "x"}),
    Case("convert-report-parent-file", "`--report` whose folder is a file",
         ["convert", "jsonl", "in.jsonl", "out.spacy", "--report", "f/r.json"], "f is a file, not a folder",
         {"in.jsonl": ONE, "f": "x"}, absent=["out.spacy"]),
    Case("iob-cr-only", "an IOB file with old-Mac line endings (CR only)",
         ["convert", "iob", "in.iob", "out.spacy"], "entities out: {'DRUG': 1, 'SYMPTOM': 1}",
         {"in.iob": "fever\tB-SYMPTOM\rand\tO\raspirin\tB-DRUG\rtoday\tO\r"}, exit_code=0,
         outcome="read as lines"),
    Case("iob-n-sents-0", "`convert-iob --n-sents 0`",
         ["convert", "iob", "in.iob", "out.spacy", "--n-sents", "0"], "--n-sents: must be at least 1, not 0",
         {"in.iob": "fever\tB-SYMPTOM\n"}, absent=["out.spacy"]),
    Case("jsonl-repeated-key", 'two `"spans"` keys in one record',
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "in.jsonl:1: key 'spans' appears twice",
         {"in.jsonl": '{"text": "fever", "spans": [{"start": 0, "end": 5, "label": "SYMPTOM"}], "spans": []}\n'},
         absent=["out.spacy"]),
    Case("jsonl-deep-nesting", "100,000 `[` on a JSONL line",
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "in.jsonl:1: nested deeper than the reader goes",
         {"in.jsonl": "[" * 100000 + "\n"}, absent=["out.spacy"]),
    Case("jsonl-over-max-length", "a JSONL text over spaCy's max_length (1,000,000 characters)",
         ["convert", "jsonl", "in.jsonl", "out.spacy"], "in.jsonl:1: text of 1,000,001 characters is longer than",
         {"in.jsonl": jsonl({"text": "a " * 500000 + "b"})}, absent=["out.spacy"]),
    Case("label-map-int-labels", "a label map whose labels are integers",
         ["convert", "jsonl", "in.jsonl", "out.spacy", "--label-map", "map.json"],
         "map.json: 'labels' holds 1; a label is a non-empty string", {"in.jsonl": ONE, "map.json": '{"labels": [1]}'}),
    Case("brat-empty-txt", "BRAT: an empty `.txt` (beside an empty `.ann`)",
         ["convert", "brat", "d", "out.spacy"], "2 documents in, 2 out",
         {"d/a.txt": "", "d/a.ann": "", "d/b.txt": BRAT_TXT, "d/b.ann": ""}, exit_code=0,
         outcome="a document without entities, as an empty `.ann` is"),
    Case("brat-upper-case-and-subfolder", "BRAT: `.TXT`/`.ANN` names and a sub-folder",
         ["convert", "brat", "d", "out.spacy"], "3 documents in, 3 out",
         {"d/a.txt": BRAT_TXT, "d/a.ann": "", "d/B.TXT": BRAT_TXT, "d/B.ANN": "", "d/sub/c.txt": BRAT_TXT,
          "d/sub/c.ann": "", "d/notes.md": "x"}, exit_code=0,
         outcome="read, as annotate reads a folder; files left out are named in the report"),
    Case("brat-bom-offsets", "BRAT: a `.txt` starting with a BOM that the offsets do not count",
         ["convert", "brat", "doc.ann", "out.spacy"], "holds a byte order mark (U+FEFF) at offset 0",
         {"doc.txt": "\ufeff" + BRAT_TXT, "doc.ann": "T1\tSign_symptom 3 8\tfever\n"}),
    Case("corpus-bool-as-string", "corpus table: `one_doc_per_line: 'no'`",
         ["convert", "corpus", "x", "--output", "out", "--table", "c.yml", "--assets", "."],
         "corpus 'x': one_doc_per_line must be true or false, not 'no'",
         {"c.yml": CORPUS_OK.replace("jsonl", "brat", 1).replace("a.jsonl", "d").replace(
             "  splits:", "  options: {one_doc_per_line: 'no'}\n  splits:"), "x/d/": ""}, absent=["out"]),
    Case("corpus-attributes-missing", "corpus table: an `attributes` file that is not there",
         ["convert", "corpus", "x", "--output", "out", "--table", "c.yml", "--assets", "."],
         "c.yml:3: corpus 'x': attributes file 'labels/attrs.json' not found",
         {"c.yml": CORPUS_OK.replace("jsonl", "brat", 1).replace("a.jsonl", "d").replace(
             "  splits:", "  options: {attributes: labels/attrs.json}\n  splits:"), "x/d/": ""}, absent=["out"]),
    Case("corpus-scheme-iobes", "corpus table: `scheme: iobes`",
         ["convert", "corpus", "x", "--output", "out", "--table", "c.yml", "--assets", "."],
         "scheme must be auto, iob1 or iob2, not 'iobes'",
         {"c.yml": CORPUS_OK.replace("jsonl", "iob", 1).replace("a.jsonl", "a.iob").replace(
             "  splits:", "  options: {scheme: iobes}\n  splits:"), "x/a.iob": "fever\tB-SYMPTOM\n"}, absent=["out"]),
    Case("corpus-n-sents-text", "corpus table: `n_sents: ten`",
         ["convert", "corpus", "x", "--output", "out", "--table", "c.yml", "--assets", "."],
         "n_sents must be an integer, not 'ten'",
         {"c.yml": CORPUS_OK.replace("jsonl", "iob", 1).replace("a.jsonl", "a.iob").replace(
             "  splits:", "  options: {n_sents: ten}\n  splits:"), "x/a.iob": "fever\tB-SYMPTOM\n"}, absent=["out"]),
    Case("annotate-docbin-is-input", "annotate `--docbin` equal to the input `.spacy`",
         ["annotate", "gold.spacy", "out.jsonl", "--model", "{model}", "--docbin", "gold.spacy"],
         "gold.spacy: the --docbin output is the input", {"gold.spacy": "DOCBIN"}, absent=["out.jsonl.parts"]),
    Case("annotate-output-is-input", "annotate's output equal to its input",
         ["annotate", "in.jsonl", "in.jsonl", "--model", "{model}"], "in.jsonl: the output is the input",
         {"in.jsonl": jsonl({"id": 1, "text": "fever"})}, absent=["in.jsonl.parts"]),
    Case("annotate-repeated-id-key", 'annotate JSONL with two `"id"` keys',
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}"], "in.jsonl:1: key 'id' appears twice",
         {"in.jsonl": '{"id": 1, "id": 2, "text": "fever"}\n'}, absent=["out.jsonl.parts"]),
    Case("annotate-id-null", 'annotate JSONL with `"id": null` (or true, 1.5, an object)',
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}"], "in.jsonl:2: 'id' is null",
         {"in.jsonl": jsonl({"id": "a", "text": "x"}, {"id": None, "text": "fever"})}, absent=["out.jsonl.parts"]),
    Case("annotate-deep-nesting", "annotate JSONL of 100,000 `[`",
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}"], "in.jsonl:1: nested deeper",
         {"in.jsonl": "[" * 100000 + "\n"}, absent=["out.jsonl.parts"]),
    Case("annotate-over-max-length", "annotate a text over the pipeline's max_length",
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}"], "document 'big': text of 1,000,001 characters",
         {"in.jsonl": jsonl({"id": "big", "text": "a " * 500000 + "b"})}, absent=["out.jsonl", "out.jsonl.parts"]),
    Case("annotate-stats-parent-file", "annotate `--stats` whose folder is a file",
         ["annotate", "in.jsonl", "out.jsonl", "--model", "{model}", "--stats", "f/s.json"],
         "f is a file, not a folder", {"in.jsonl": jsonl({"id": 1, "text": "fever"}), "f": "x"},
         absent=["out.jsonl", "out.jsonl.parts"]),
    Case("predict-over-max-length", "predict on a text over the pipeline's max_length",
         ["predict", "--model", "{model}"], "input: text of 1,000,001 characters", stdin="a " * 500000 + "b"),
    Case("evaluate-output-is-data", "evaluate `--output` equal to the DocBin scored",
         ["evaluate", "model", "{model}", "gold.spacy", "--output", "gold.spacy"], "gold.spacy: the --output is the data",
         {"gold.spacy": "DOCBIN"}),
    Case("evaluate-markdown-parent-file", "evaluate `--markdown` whose folder is a file",
         ["evaluate", "model", "{model}", "gold.spacy", "--output", "m.json", "--markdown", "f/m.md"],
         "f is a file, not a folder", {"gold.spacy": "DOCBIN", "f": "x"}, absent=["m.json"]),
    Case("evaluate-no-entity-annotation", "evaluate on a DocBin saved without entity annotation",
         ["evaluate", "model", "{model}", "gold.spacy", "--output", "m.json"], "gold.spacy: its documents carry no entity",
         {"gold.spacy": "DOCBIN_NO_ENTS"}, absent=["m.json"]),
    Case("evaluate-not-docbin", "evaluate on a file that is not a DocBin",
         ["evaluate", "model", "{model}", "gold.spacy", "--output", "m.json"], "gold.spacy: not a spaCy DocBin",
         {"gold.spacy": "just text\n"}, absent=["m.json"]),
    # Issue 37: every command that writes checks its outputs before any work
    Case("meta-output-is-model-meta", "`package meta` writing over the model's own meta.json",
         ["package", "meta", "model", "m.json", "model/meta.json", "--name", "x", "--version", "1.0.0",
          "--transformer", "t", "--corpus", "c"], "meta.json: the meta output is the model's meta.json",
         {"model/meta.json": '{"lang": "en", "name": "ruler"}', "m.json": '{"split": "test"}'},
         unchanged=["model/meta.json"]),
    Case("meta-output-parent-file", "`package meta` output whose folder is a file",
         ["package", "meta", "model", "m.json", "f/meta.json", "--name", "x", "--version", "1.0.0",
          "--transformer", "t", "--corpus", "c"], "f is a file, not a folder",
         {"model/meta.json": '{"lang": "en"}', "m.json": '{"split": "test"}', "f": "x"}, unchanged=["f"]),
    Case("package-test-unknown-row", "`evaluate package --harmonisation` with a `--corpus` the table does not have",
         ["evaluate", "package", "m.whl", "gold.spacy", "m.json", "--output", "o.json", "--target", "installed",
          "--harmonisation", "table.yml", "--corpus", "MIMIC"], "--corpus: 'MIMIC' is not a row of table.yml",
         {"m.whl": b"PK", "gold.spacy": "DOCBIN", "m.json": '{"split": "test"}',
          "table.yml": "release_labels: [DRUG]\ncorpora:\n  x:\n    annotates: [DRUG]\n"},
         absent=["installed", "o.json"]),
    Case("vocab-output-is-file", "`vocab --output` naming a file (checked before the term lists are built)",
         ["vocab", "--output", "f"], "f/terms.jsonl: cannot hold the term list: ", {"f": "x"}, unchanged=["f"]),
    Case("visualize-output-is-data", "`visualize` whose errors.html is the DocBin it reads",
         ["visualize", "{model}", "views/errors.html", "views"], "errors.html: the errors view is the data",
         {"views/errors.html": "DOCBIN"}, unchanged=["views/errors.html"], absent=["views/predictions.html"]),
    Case("visualize-output-parent-file", "`visualize` output folder that is a file",
         ["visualize", "{model}", "gold.spacy", "gold.spacy"], "gold.spacy is a file, not a folder",
         {"gold.spacy": "DOCBIN"}, unchanged=["gold.spacy"]),
    Case("add-context-output-is-model", "`add-context` saving over the pipeline it reads",
         ["add-context", "model", "train.spacy", "model"], "model: the output is the model",
         {"model/": "PIPELINE", "train.spacy": "DOCBIN"}, unchanged=["model"]),
    Case("add-context-output-is-file", "`add-context` output that is a file (the training DocBin)",
         ["add-context", "model", "train.spacy", "train.spacy"], "train.spacy: is a file, but the output is a folder",
         {"model/": "PIPELINE", "train.spacy": "DOCBIN"}, unchanged=["model", "train.spacy"]),
    Case("calibrate-output-is-model", "`calibrate --output` equal to the pipeline it reads",
         ["calibrate", "model", "dev.spacy", "--output", "model"], "model: the --output is the model",
         {"model/": "PIPELINE", "dev.spacy": "DOCBIN"}, unchanged=["model"]),
    Case("calibrate-output-holds-model", "`calibrate --output` a folder that holds the pipeline it reads",
         ["calibrate", "runs/model", "dev.spacy", "--output", "runs"], "runs: the --output holds the model",
         {"runs/model/": "PIPELINE", "dev.spacy": "DOCBIN"}, unchanged=["runs"]),
    Case("calibrate-output-parent-file", "`calibrate --output` inside a file",
         ["calibrate", "model", "dev.spacy", "--output", "dev.spacy/out"], "dev.spacy is a file, not a folder",
         {"model/": "PIPELINE", "dev.spacy": "DOCBIN"}, unchanged=["dev.spacy"]),
    Case("split-output-is-document", "`convert split` into the BRAT folder, whose train.txt is a document",
         ["convert", "split", "brat", "brat", "--sizes", "1", "1", "0"], "train.txt: the train id list is the document",
         {"brat/train.txt": BRAT_TXT, "brat/train.ann": "", "brat/b.txt": BRAT_TXT, "brat/b.ann": ""},
         unchanged=["brat/train.txt"]),
    Case("split-output-parent-file", "`convert split` output folder that is a file",
         ["convert", "split", "brat", "f", "--sizes", "1", "0", "0"], "f is a file, not a folder",
         {"brat/a.txt": BRAT_TXT, "brat/a.ann": "", "f": "x"}, unchanged=["f"]),
    Case("evaluate-mix-output-is-file", "`evaluate mix --output` naming a file (checked before scoring)",
         ["evaluate", "mix", "{model}", "--corpora", "x", "--corpus-dir", "corpus", "--harmonisation", "h.yml",
          "--output", "f"], "f is a file, not a folder",
         {"corpus/x/test.spacy": "DOCBIN", "h.yml": "x: {}\n", "f": "x"}, unchanged=["f"]),
]


def printable(text: str) -> str:
    """Characters that cannot be shown (or written: lone surrogates) as \\u escapes."""
    return "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else f"\\u{ord(c):04x}" for c in text)


def render_table(cases=CASES) -> str:
    """The docs' table of bad inputs."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| bad input | command | answer |", "| --- | --- | --- |"]
    for case in cases:
        command = "med-ner " + " ".join(printable(a) for a in case.args).replace("{model}", "MODEL").replace("{blank}", "MODEL").replace("{zz}", "MODEL")
        answer = f"`error: …{case.answer}…` (exit 1)" if case.exit_code else f"{case.outcome}: `…{case.answer}…`"
        lines.append(f"| {cell(case.bad_input)} | `{cell(command)}` | {cell(answer)} |")
    return "\n".join(lines) + "\n"


DOCS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "data.md"
START, END = "<!-- bad-input:start -->", "<!-- bad-input:end -->"


def docs_section(page: Path = DOCS_PAGE) -> str:
    """What the page holds between its bad-input markers."""
    text = page.read_text(encoding="utf-8")
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write_docs(page: Path = DOCS_PAGE) -> None:
    """Put the rendered table between the page's bad-input markers."""
    text = page.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    page.write_text(f"{head}{START}\n{render_table()}{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write"]:
        write_docs()
    else:
        print(render_table(), end="")
