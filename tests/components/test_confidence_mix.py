"""`med-ner calibrate --mix-config`: entity_confidence fitted on the dev splits
of a corpus mix, where a corpus that annotates only some labels cannot make a
prediction of another label wrong; and `--method auto`'s recorded choice."""
import json
import subprocess
import sys

import pytest
import spacy
import srsly
from spacy.tokens import DocBin

from conftest import ROOT
from med_ner.evaluation.calibration import AUTO_METHODS
from med_ner.training.mix import CorpusUnion

RELEASE = ["DISEASE", "SYMPTOM", "DRUG", "BODY_PART", "TEST", "PROCEDURE"]
MIX_CONFIG = """
[corpora]

[corpora.train]
@readers = "en_med_ner.CorpusMix.v1"
corpus_dir = ${paths.corpus_dir}
split = "train"
harmonisation = ${paths.harmonisation}
weights = {"sample": 0.7, "partial": 0.3}

[corpora.dev]
@readers = "en_med_ner.CorpusUnion.v1"
corpus_dir = ${paths.corpus_dir}
split = "dev"
corpora = ["sample", "partial"]
harmonisation = ${paths.harmonisation}
"""


@pytest.fixture(scope="module")
def mix(tmp_path_factory, tiny_trained_pipeline):
    """corpus/sample/dev.spacy: the sample dev texts with every label; corpus/partial/dev.spacy: the same
    texts with only the entities of one label (a one-label corpus, as NCBI-disease), labelled "Part" and mapped
    back by the table; a mix config of both. The one label is the one the tiny model predicts most, or, where it
    predicts one label only, a label it does not predict (its training is not deterministic): either way the
    model predicts labels the one-label corpus does not annotate."""
    from collections import Counter

    root = tmp_path_factory.mktemp("mix")
    texts = [json.loads(line) for line in (ROOT / "assets/sample/dev.jsonl").read_text(encoding="utf-8").splitlines()]
    model = spacy.load(tiny_trained_pipeline)
    predicted = Counter(ent.label_ for doc in model.pipe(r["text"] for r in texts) for ent in doc.ents)
    ranked = [name for name, _ in predicted.most_common()]
    label = ranked[0] if len(ranked) > 1 else next(name for name in RELEASE if name not in predicted)
    nlp = spacy.blank("en")
    full, partial = DocBin(store_user_data=True), DocBin(store_user_data=True)
    for record in texts:
        doc = nlp.make_doc(record["text"])
        spans = [doc.char_span(s["start"], s["end"], label=s["label"], alignment_mode="expand")
                 for s in record["spans"]]
        doc.set_ents([s for s in spans if s is not None], default="outside")
        full.add(doc)
        one = nlp.make_doc(record["text"])
        one.set_ents([one.char_span(s.start_char, s.end_char, label="Part") for s in spans
                      if s is not None and s.label_ == label], default="outside")
        partial.add(one)
    for name, db in (("sample", full), ("partial", partial)):
        (root / "corpus" / name).mkdir(parents=True)
        db.to_disk(root / "corpus" / name / "dev.spacy")
    srsly.write_yaml(root / "table.yml", {"release_labels": RELEASE, "corpora": {
        "sample": {"annotates": RELEASE}, "partial": {"annotates": [label], "map": {"Part": label}}}})
    (root / "mix.cfg").write_text(MIX_CONFIG, encoding="utf-8")
    (root / "label").write_text(label, encoding="utf-8")
    return root


def med_ner(*args):
    return subprocess.run([sys.executable, "-m", "med_ner", *map(str, args)], capture_output=True, text=True,
                          cwd=str(ROOT))


def test_mix_outcomes_count_only_the_labels_a_corpus_annotates(tiny_trained_pipeline, mix):
    nlp = spacy.load(tiny_trained_pipeline)
    component = nlp.add_pipe("entity_confidence", after="ner")
    union = CorpusUnion(mix / "corpus", "dev", ["sample", "partial"], mix / "table.yml")
    label = (mix / "label").read_text(encoding="utf-8")
    table = component.dev_outcome_table(list(union(nlp)))
    rows = list(zip(table["raw"], table["correct"], table["labels"], table["corpora"]))
    sample = [r for r in rows if r[3] == "sample"]
    partial = [r for r in rows if r[3] == "partial"]
    # The same texts, so the same predictions: on the one-label corpus only that label's entities count,
    # scored as on sample; the model's other labels are not counted as wrong there.
    assert sample and {r[2] for r in sample} - {label}
    assert [r[:3] for r in partial] == [r[:3] for r in sample if r[2] == label] and len(partial) < len(sample)
    assert len(set(table["docs"])) > 1


@pytest.mark.slow  # in the whole suite (CI); keeps `pytest` under 5 minutes
def test_calibrate_on_a_mix_with_auto_records_the_choice(tiny_trained_pipeline, mix, tmp_path):
    out = tmp_path / "model"
    proc = med_ner("calibrate", tiny_trained_pipeline, "--output", out, "--method", "auto", "--folds", "3",
                   "--mix-config", mix / "mix.cfg", "--corpus-dir", mix / "corpus", "--harmonisation",
                   mix / "table.yml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(chosen by auto) calibration on" in proc.stdout and "3-fold cross-validated dev ECE: platt " in proc.stdout
    assert "  partial: " in proc.stdout and "  sample: " in proc.stdout
    nlp = spacy.load(out)
    calibrator = nlp.get_pipe("entity_confidence").calibrator
    info = calibrator.info
    assert info["requested"] == "auto" and calibrator.method == info["method"] in AUTO_METHODS
    assert info["cv_ece"][calibrator.method] == min(info["cv_ece"].values()) and info["folds"] == 3
    assert info["restricted_to_annotated"] and list(info["corpora"]) == ["sample", "partial"]
    assert info["dev_entities"] == sum(c["dev_entities"] for c in info["corpora"].values())
    assert "sample, partial" in info["dev"] and info["dev_documents_total"] == 48
    assert nlp.meta["entity_confidence"]["calibration"] == info
    doc = nlp("She was given aspirin and heparin for chest pain after the CT scan.")
    assert all(0.0 <= ent._.confidence <= 1.0 for ent in doc.ents)

    # The report of `evaluate mix` says which map and why.
    (mix / "corpus" / "sample" / "test.spacy").write_bytes((mix / "corpus" / "sample" / "dev.spacy").read_bytes())
    proc = med_ner("evaluate", "mix", out, "--corpora", "sample", "--corpus-dir", mix / "corpus", "--harmonisation",
                   mix / "table.yml", "--train-split", "", "--output", tmp_path / "metrics")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = srsly.read_json(tmp_path / "metrics" / "test.json")["corpora"]["sample"]["calibration"]
    assert report["map"]["info"]["requested"] == "auto" and report["map"]["method"] == calibrator.method
    assert f"Calibration map: {calibrator.method}, fitted on" in (tmp_path / "metrics" / "test.md").read_text()
    assert info["weights"] == "each entity equal"


def test_balance_corpora_weighs_each_corpus_the_same(tiny_trained_pipeline, mix, tmp_path):
    from med_ner.packaging.add_confidence import add_confidence

    common = dict(mix_config=mix / "mix.cfg", corpus_dir=mix / "corpus", harmonisation=mix / "table.yml", folds=3)
    plain = add_confidence(str(tiny_trained_pipeline), None, tmp_path / "plain", "platt", **common)
    balanced = add_confidence(str(tiny_trained_pipeline), None, tmp_path / "balanced", "platt", **common,
                              balance_corpora=True)
    assert plain["weights"] == "each entity equal" and balanced["weights"] == "each corpus equal"
    sizes = [row["dev_entities"] for row in balanced["corpora"].values()]
    assert len(sizes) == 2 and sizes[0] != sizes[1]  # unequal corpora, so the weights change the fit
    maps = [spacy.load(tmp_path / name).get_pipe("entity_confidence").calibrator.params for name in ("plain", "balanced")]
    assert maps[0] != maps[1]
    with pytest.raises(ValueError, match="--balance-corpora needs --mix-config"):
        add_confidence(str(tiny_trained_pipeline), mix / "corpus" / "sample" / "dev.spacy", tmp_path / "x", "platt",
                       balance_corpora=True)


@pytest.mark.parametrize("args, message", [
    (["DEV", "--mix-config", "MIX"], "give either DEV (a dev DocBin) or --mix-config"),
    ([], "give either DEV (a dev DocBin) or --mix-config"),
    (["--mix-config", "MIX", "--corpus-dir", "NOWHERE"], "not found: "),
    (["--mix-config", "MIX", "--method", "auto", "--folds", "1"], "--folds: 1 is fewer than 2"),
])
def test_calibrate_source_errors(tiny_trained_pipeline, mix, tmp_path, args, message):
    dev = mix / "corpus" / "sample" / "dev.spacy"
    names = {"DEV": dev, "MIX": mix / "mix.cfg", "NOWHERE": tmp_path / "none"}
    args = [names.get(a, a) for a in args]
    extra = [] if "--corpus-dir" in args else ["--corpus-dir", mix / "corpus"]
    proc = med_ner("calibrate", tiny_trained_pipeline, *args, "--output", tmp_path / "out", "--harmonisation",
                   mix / "table.yml", *extra)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()
