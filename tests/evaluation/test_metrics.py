"""Partial-match modes, the error breakdown and bootstrap intervals on
hand-made spans whose right answers are worked out by hand."""
import numpy
import pytest

from med_ner.evaluation import metrics as ner_metrics

# Gold and predicted (start, end, label) spans of two documents.
GOLD = [[(0, 5, "DRUG"), (10, 20, "DISEASE"), (30, 35, "SYMPTOM")], [(0, 4, "TEST")]]
PRED = [[(0, 5, "DRUG"), (10, 15, "DISEASE"), (30, 35, "DISEASE"), (40, 45, "DRUG")], []]


def test_error_breakdown_categories_and_confusion():
    result = ner_metrics.error_breakdown(GOLD, PRED)
    assert result["counts"] == {"correct": 1, "boundary": 1, "type": 1, "boundary+type": 0, "missed": 1, "spurious": 1}
    assert result["confusion"] == {"DRUG": {"DRUG": 1}, "DISEASE": {"DISEASE": 1}, "SYMPTOM": {"DISEASE": 1},
                                   "TEST": {"O": 1}, "O": {"DRUG": 1}}


def test_nervaluate_modes():
    scores = ner_metrics.nervaluate_scores(GOLD, PRED, ["DRUG", "DISEASE", "SYMPTOM", "TEST"])["overall"]
    # strict: only the DRUG is right; 2 incorrect (boundary, type), 1 missed, 1 spurious.
    assert {k: scores["strict"][k] for k in ner_metrics.COUNT_KEYS} == {
        "correct": 1, "incorrect": 2, "partial": 0, "missed": 1, "spurious": 1}
    # exact boundary ignores the type: the SYMPTOM/DISEASE span counts as correct.
    assert scores["exact"]["correct"] == 2
    # partial boundary: the shortened DISEASE is partial.
    assert (scores["partial"]["correct"], scores["partial"]["partial"]) == (2, 1)
    # type: overlapping with the right label is enough.
    assert scores["ent_type"]["correct"] == 2
    assert scores["strict"]["p"] == pytest.approx(1 / 4) and scores["strict"]["r"] == pytest.approx(1 / 4)


def test_bootstrap_interval_contains_the_point_estimate_and_narrows_with_data():
    counts = ner_metrics.per_doc_counts(GOLD, PRED)
    assert counts.tolist() == [[1, 3, 2], [0, 0, 1]]
    rng = numpy.random.default_rng(1)
    many = numpy.column_stack([rng.integers(5, 10, 400), rng.integers(0, 3, 400), rng.integers(0, 3, 400)]).astype(float)
    lo, hi = ner_metrics.bootstrap_f1(many)
    tp, fp, fn = many.sum(axis=0)
    assert lo < 2 * tp / (2 * tp + fp + fn) < hi
    lo_small, hi_small = ner_metrics.bootstrap_f1(many[:20])
    assert hi - lo < hi_small - lo_small
    assert ner_metrics.bootstrap_f1(many) == [lo, hi]  # seeded: repeatable


def test_markdown_sections_render_every_mode():
    partial = ner_metrics.nervaluate_scores(GOLD, PRED, ["DRUG", "DISEASE", "SYMPTOM", "TEST"])
    text = "\n".join(ner_metrics.markdown_sections(partial, ner_metrics.error_breakdown(GOLD, PRED)))
    for title in ("| strict |", "| exact boundary |", "| partial boundary |", "| type |", "| SYMPTOM | 1 | 0 | 0 | 0 | 0 |"):
        assert title in text


def test_seen_unseen_recall_splits_gold_mentions_by_training_text():
    import spacy

    doc = spacy.blank("en")("Aspirin for migraine and amodiaquine for malaria")
    doc.ents = [doc.char_span(0, 7, "DRUG"), doc.char_span(12, 20, "DISEASE"), doc.char_span(25, 36, "DRUG"),
                doc.char_span(41, 48, "DISEASE")]
    # "aspirin" and "malaria" were training mentions (case-insensitive); migraine and amodiaquine were not.
    pred = [[(0, 7, "DRUG"), (12, 20, "DRUG"), (25, 36, "DRUG")]]
    train = spacy.blank("en")("ASPIRIN and Malaria")
    train.ents = [train.char_span(0, 7, "DRUG"), train.char_span(12, 19, "DISEASE")]
    assert ner_metrics.mention_texts([train]) == {"aspirin", "malaria"}
    result = ner_metrics.seen_unseen_recall([doc], pred, ner_metrics.mention_texts([train]))
    assert (result["mentions_seen"], result["mentions_unseen"]) == (2, 2)
    # seen: aspirin found, malaria missed; unseen: amodiaquine found, migraine has the wrong label.
    assert (result["recall_seen"], result["recall_unseen"]) == (0.5, 0.5)
    assert ner_metrics.seen_unseen_recall([doc], pred, set())["recall_seen"] is None


def test_half_partial_counts_and_scores():
    # correct DRUG, incorrect SYMPTOM->DISEASE on the same span, partial DISEASE,
    # missing TEST, spurious DRUG: P = R = (1 + 1/2) / 4.
    h = ner_metrics.half_partial_scores(GOLD, PRED)
    assert {k: h[k] for k in ("correct", "incorrect", "partial", "missing", "spurious")} == {
        "correct": 1, "incorrect": 1, "partial": 1, "missing": 1, "spurious": 1}
    assert h["p"] == pytest.approx(0.375) and h["r"] == pytest.approx(0.375) and h["f"] == pytest.approx(0.375)


def test_half_partial_matches_each_mention_once():
    # Two predictions overlap one gold mention: one partial, one spurious. An
    # overlap with another label is no partial match. An exact match is taken
    # before a partial one, whatever the order of the predictions.
    gold = [[(0, 10, "DISEASE"), (20, 30, "DRUG")]]
    pred = [[(0, 4, "DISEASE"), (5, 10, "DISEASE"), (22, 30, "SYMPTOM")]]
    h = ner_metrics.half_partial_scores(gold, pred)
    assert (h["correct"], h["incorrect"], h["partial"], h["missing"], h["spurious"]) == (0, 0, 1, 1, 2)
    h = ner_metrics.half_partial_scores([[(0, 10, "DISEASE")]], [[(0, 4, "DISEASE"), (0, 10, "DISEASE")]])
    assert (h["correct"], h["partial"], h["spurious"]) == (1, 0, 1)
    assert h["p"] == pytest.approx(0.5) and h["r"] == pytest.approx(1.0)
    assert ner_metrics.half_partial_scores([[]], [[]])["f"] == 0.0
