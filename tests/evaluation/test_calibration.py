"""The calibration measures and maps on hand-made cases."""
import numpy
import pytest

from med_ner.evaluation import calibration as cal


def test_ece_hand_made_case():
    # Bin [0.8, 0.867): confidences 0.8, 0.8 with 1 of 2 correct -> |0.5 - 0.8| = 0.3, share 2/4.
    # Bin [0.2, 0.267): 0.2, 0.2 with 0 of 2 correct -> |0 - 0.2| = 0.2, share 2/4.
    assert cal.expected_calibration_error([0.8, 0.8, 0.2, 0.2], [True, False, False, False]) == pytest.approx(0.25)
    assert cal.expected_calibration_error([1.0, 0.0], [True, False]) == pytest.approx(0.0)
    assert cal.expected_calibration_error([], []) is None
    bins = cal.reliability_bins([1.0, 0.0, 0.5], [True, False, True])
    assert len(bins) == cal.N_BINS == 15 and bins[-1]["count"] == 1 and bins[0]["count"] == 1 and bins[7]["count"] == 1


def test_threshold_table_and_precision_at_share():
    scores, correct = [0.95, 0.85, 0.55, 0.15], [True, True, False, False]
    rows = {r["threshold"]: r for r in cal.threshold_table(scores, correct, gold_entities=4)}
    assert rows[0.0]["kept"] == 4 and rows[0.0]["p"] == 0.5 and rows[0.0]["r"] == 0.5
    assert rows[0.6]["kept"] == 2 and rows[0.6]["p"] == 1.0 and rows[0.6]["r"] == 0.5
    assert rows[0.9]["kept"] == 1 and list(rows) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert cal.precision_at_share(scores, correct, 0.5) == 1.0


def test_platt_and_isotonic_fit_calibrate_an_overconfident_score():
    rng = numpy.random.default_rng(0)
    raw = rng.uniform(0.3, 0.999, 4000)
    logit = numpy.log(raw / (1 - raw))
    truth = 1 / (1 + numpy.exp(-(0.6 * logit - 0.8)))  # true accuracy below the raw score
    correct = rng.uniform(size=raw.size) < truth
    before = cal.expected_calibration_error(raw, correct)
    for method in ("platt", "isotonic", "platt-label"):
        calibrator = cal.Calibrator.fit(method, raw, correct, ["A"] * raw.size)
        mapped = calibrator(raw, ["A"] * raw.size)
        assert ((0 <= mapped) & (mapped <= 1)).all()
        assert cal.expected_calibration_error(mapped, correct) < min(0.05, before / 3), method
        again = cal.Calibrator.from_dict(calibrator.to_dict())
        assert numpy.allclose(again(raw, ["A"] * raw.size), mapped)
    iso = cal.Calibrator.fit("isotonic", raw, correct)
    grid = numpy.linspace(0, 1, 50)
    assert (numpy.diff(iso(grid)) >= 0).all()
    # platt-label falls back to the global fit for a label with few dev entities.
    labels = ["A"] * (raw.size - 5) + ["B"] * 5
    per_label = cal.Calibrator.fit("platt-label", raw, correct, labels)
    assert "A" in per_label.params["labels"] and "B" not in per_label.params["labels"]
    with pytest.raises(ValueError, match="not one of"):
        cal.Calibrator.fit("temperature", raw, correct)


def test_reliability_diagram_png(tmp_path):
    report = {"bins": cal.reliability_bins([0.9, 0.1], [True, False]), "ece": 0.1, "entities": 2}
    path = cal.reliability_diagram(report, tmp_path / "r.png", title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
