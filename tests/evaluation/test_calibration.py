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


def logit(p):
    return numpy.log(p / (1 - p))


def sigmoid(z):
    return 1 / (1 + numpy.exp(-z))


def test_document_folds_keep_each_document_whole():
    groups = [0, 0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 9]
    fold = cal.document_folds(groups, 5, seed=1)
    by_doc = {}
    for g, f in zip(groups, fold):
        by_doc.setdefault(g, set()).add(int(f))
    assert all(len(f) == 1 for f in by_doc.values())
    # 10 documents dealt round-robin: two per fold.
    assert sorted(sum(1 for f in by_doc.values() if i in f) for i in range(5)) == [2] * 5
    assert (cal.document_folds(groups, 5, seed=1) == fold).all()


def test_auto_picks_isotonic_for_a_step_and_platt_label_for_labels_that_differ():
    rng = numpy.random.default_rng(0)
    raw = rng.uniform(0.05, 0.995, 4000)
    docs = (numpy.arange(raw.size) // 5).tolist()
    # Accuracy in steps: no sigmoid of the logit follows it, pool adjacent violators does.
    step = numpy.where(raw < 0.5, 0.1, numpy.where(raw < 0.8, 0.6, 0.97))
    correct = rng.uniform(size=raw.size) < step
    chosen, cv, k = cal.choose_method(raw, correct, ["A"] * raw.size, docs)
    assert chosen == "isotonic" and k == 5 and set(cv) == set(cal.AUTO_METHODS)
    assert cv["isotonic"] == min(cv.values())
    # One label only: platt-label is platt, and the tie goes to the simpler map.
    assert cv["platt"] == cv["platt-label"]
    # Two labels miscalibrated in opposite ways: one map per label.
    labels = numpy.array(["A", "B"] * (raw.size // 2))
    truth = numpy.where(labels == "A", sigmoid(3 * logit(raw) - 3), sigmoid(0.3 * logit(raw) + 2))
    correct = rng.uniform(size=raw.size) < truth
    chosen, cv, _ = cal.choose_method(raw, correct, labels.tolist(), docs)
    assert chosen == "platt-label" and cv["platt-label"] < cv["platt"] / 3


def test_fit_calibration_records_the_choice_and_each_cv_ece():
    rng = numpy.random.default_rng(1)
    raw = rng.uniform(0.05, 0.995, 600)
    correct = rng.uniform(size=raw.size) < sigmoid(0.6 * logit(raw) - 0.8)
    docs = (numpy.arange(raw.size) // 6).tolist()
    labels = ["A"] * raw.size
    auto = cal.fit_calibration("auto", raw, correct, labels, docs, folds=4)
    info = auto.info
    assert info["requested"] == "auto" and info["method"] == auto.method in cal.AUTO_METHODS
    assert info["folds"] == 4 and info["dev_entities"] == 600 and info["dev_documents"] == 100
    assert info["cv_ece"][auto.method] == min(info["cv_ece"].values())
    assert info["dev_ece_calibrated"] < info["dev_ece_raw"]
    assert cal.Calibrator.from_dict(auto.to_dict()).info == info
    # An explicit method is kept, and the CV ECE of each map is still recorded beside it.
    platt = cal.fit_calibration("platt", raw, correct, labels, docs, folds=4)
    assert platt.method == "platt" and platt.info["cv_ece"] == info["cv_ece"]
    summary = cal.map_summary(cal.map_description(auto))
    assert summary.startswith(f"Calibration map: {auto.method}, fitted on 600 predicted dev entities")
    assert "chosen by `--method auto`" in summary and "4-fold cross-validated dev ECE (platt " in summary
    # One document: nothing to cross-validate; auto cannot choose, an explicit method still fits.
    one = [0] * raw.size
    assert cal.cross_validated_ece("platt", raw, correct, labels, one) is None
    with pytest.raises(ValueError, match="at least 2 dev documents"):
        cal.fit_calibration("auto", raw, correct, labels, one)
    assert cal.fit_calibration("isotonic", raw, correct, labels, one).info["folds"] is None
    with pytest.raises(ValueError, match="'temperature' is not one of"):
        cal.fit_calibration("temperature", raw, correct, labels, docs)


def test_platt_label_lists_the_labels_on_the_global_fit():
    rng = numpy.random.default_rng(2)
    raw = rng.uniform(0.05, 0.995, 400)
    correct = rng.uniform(size=raw.size) < raw
    labels = ["A"] * 380 + ["B"] * 20
    fit = cal.Calibrator.fit("platt-label", raw, correct, labels)
    assert list(fit.params["labels"]) == ["A"] and fit.params["global_fit_labels"] == ["B"]
    assert "labels on the global fit (too few dev entities): B" in cal.map_summary(cal.map_description(fit))


def test_a_weight_counts_as_that_many_copies_of_an_entity():
    from med_ner.evaluation.calibration import fit_isotonic, fit_platt

    raw = [0.2, 0.4, 0.5, 0.7, 0.9, 0.95, 0.3, 0.6]
    correct = [False, False, True, True, True, True, True, False]
    weights = [2, 1, 3, 1, 2, 1, 1, 2]
    copies = [(r, c) for r, c, w in zip(raw, correct, weights) for _ in range(w)]
    assert fit_platt(raw, correct, weights=weights) == pytest.approx(fit_platt(*zip(*copies)), abs=1e-6)
    x, y = fit_isotonic(raw, correct, weights)
    x2, y2 = fit_isotonic(*zip(*copies))
    assert x == pytest.approx(x2) and y == pytest.approx(y2)
    assert fit_platt(raw, correct, weights=[1] * len(raw)) == fit_platt(raw, correct)
