import numpy as np
import pytest

from psy_agents.data.criteria_text import NO_SYMPTOMS, POST_LABELS, SYMPTOMS
from psy_agents.evaluation.metrics import (
    best_threshold,
    classification_metrics,
    expected_calibration_error,
    post_level_metrics,
    symptom_f1,
)


def test_ece_is_zero_when_confidence_matches_accuracy():
    # 9 of 10 examples at P=0.9 are positive: accuracy 0.9 = confidence 0.9.
    assert expected_calibration_error([1] * 9 + [0], [0.9] * 10) == pytest.approx(0.0)


def test_ece_uses_confidence_of_predicted_class():
    # P=0.2 -> predicts 0 with confidence 0.8, correct; P=0.9 -> predicts 1 with confidence 0.9, wrong.
    assert expected_calibration_error([0, 0], [0.2, 0.9]) == pytest.approx(0.5 * 0.2 + 0.5 * 0.9)


def test_classification_metrics_values_and_threshold():
    y, prob = [1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1]
    m = classification_metrics(y, prob)
    assert m["macro_f1"] == pytest.approx(0.5)
    assert m["binary_f1"] == pytest.approx(0.5)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["auroc"] == pytest.approx(0.75)  # 3 of 4 (positive, negative) pairs ranked right
    assert (m["n"], m["positives"]) == (4, 2)
    assert 0.0 <= m["ece"] <= 1.0
    # A lower threshold turns the 0.4 into a hit: TP 2, FP 1 -> binary F1 = 2*2 / (2*2 + 1).
    assert classification_metrics(y, prob, threshold=0.35)["binary_f1"] == pytest.approx(0.8)


def test_classification_metrics_one_class_and_groups():
    m = classification_metrics([0, 0, 0], [0.1, 0.7, 0.2])
    assert m["auroc"] is None
    assert m["binary_f1"] == 0.0  # zero_division=0, no crash
    assert "per_group_f1" not in m
    grouped = classification_metrics([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], groups=["a", "a", "b", "b"])
    assert grouped["per_group_f1"] == pytest.approx({"a": 2 / 3, "b": 0.0})


def _rows(post_symptom_prob):
    """(post, true symptoms, predicted probs by symptom) -> nine rows per post."""
    post_ids, symptoms, y, prob = [], [], [], []
    for post, true, probs in post_symptom_prob:
        for s in SYMPTOMS:
            post_ids.append(post)
            symptoms.append(s)
            y.append(int(s in true))
            prob.append(probs.get(s, 0.0))
    return post_ids, symptoms, y, prob


def test_post_level_metrics_builds_ten_labels_with_no_symptoms():
    rows = _rows([("p1", {"DEPRESSED_MOOD"}, {"DEPRESSED_MOOD": 0.9}), ("p2", set(), {"FATIGUE": 0.7})])
    m = post_level_metrics(*rows)
    assert m["n_posts"] == 2
    assert list(m["per_label_f1"]) == list(POST_LABELS)
    assert m["per_label_f1"]["DEPRESSED_MOOD"] == 1.0
    assert m["per_label_f1"]["FATIGUE"] == 0.0  # false positive
    assert m["per_label_f1"][NO_SYMPTOMS] == 0.0  # p2 has no symptom but one was predicted
    assert m["micro_f1"] == pytest.approx(0.5)  # TP 1, FP 1, FN 1
    assert m["macro_f1"] == pytest.approx(0.1)  # one of ten labels right


def test_post_level_predicts_no_symptoms_when_all_probs_below_threshold():
    rows = _rows([("p1", set(), {"FATIGUE": 0.4}), ("p2", {"ANHEDONIA"}, {"ANHEDONIA": 0.6})])
    m = post_level_metrics(*rows)
    assert m["per_label_f1"][NO_SYMPTOMS] == 1.0
    assert m["micro_f1"] == pytest.approx(1.0)
    assert post_level_metrics(*rows, threshold=0.3)["per_label_f1"][NO_SYMPTOMS] == 0.0


def test_post_level_rejects_unknown_symptom():
    with pytest.raises(ValueError, match="SPECIAL_CASE"):
        post_level_metrics(["p"], ["SPECIAL_CASE"], [1], np.array([0.9]))


def test_best_threshold_maximises_symptom_f1_between_examples():
    one = ["FATIGUE"] * 4
    assert best_threshold([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], one) == pytest.approx(0.25)
    # No positive: nothing should be predicted positive, so the threshold sits above every probability.
    assert best_threshold([0, 0, 0], [0.1, 0.2, 0.3], one[:3]) > 0.3
    # One threshold for all symptoms, chosen on their mean F1: catching ANHEDONIA's 0.35 costs FATIGUE one false
    # positive (F1 1 -> 2/3) and gains ANHEDONIA F1 0 -> 1.
    y = [1, 0, 1, 0]
    prob = [0.9, 0.4, 0.35, 0.1]
    symptoms = ["FATIGUE", "FATIGUE", "ANHEDONIA", "ANHEDONIA"]
    t = best_threshold(y, prob, symptoms)
    assert t == pytest.approx(0.225)
    assert symptom_f1(y, np.array(prob) >= t, symptoms) == pytest.approx((2 / 3 + 1) / 2)


def test_symptom_f1_perfect_is_one_and_trivial_predictors_score_zero():
    y = [1, 0, 0, 1, 0, 0]
    symptoms = ["FATIGUE"] * 3 + ["ANHEDONIA"] * 3
    assert symptom_f1(y, y, symptoms) == 1.0
    assert symptom_f1(y, [0] * 6, symptoms) == 0.0  # predict nothing = the majority class
    # A symptom without any positive here is left out rather than scored 0 or 1 by convention.
    assert symptom_f1(y + [0], y + [0], symptoms + ["APPETITE_CHANGE"]) == 1.0


def test_post_level_reports_the_authors_threshold_and_the_predict_nothing_floor():
    rows = _rows([("p1", {"FATIGUE"}, {"FATIGUE": 0.4}), ("p2", set(), {"FATIGUE": 0.1})])
    m = post_level_metrics(*rows, threshold=0.3)
    assert m["micro_f1"] == 1.0  # at the fitted threshold both posts are right
    assert m["micro_f1_at_05"] == pytest.approx(0.5)  # at 0.5 p1 becomes NO_SYMPTOMS: TP 1 (p2), FP 1, FN 1
    # Predicting no symptom anywhere still gets NO_SYMPTOMS right for p2 (F1 2/3), the nine symptoms 0.
    assert m["floor_micro_f1"] == pytest.approx(0.5) and m["floor_macro_f1"] == pytest.approx(2 / 3 / 10)
