"""Classification metrics shared by every agent and the baseline: example level and post level (ReDSM5 protocol).

All inputs are plain sequences / numpy arrays; `prob` is always P(label=1), so thresholds and calibration are applied
in one place. Scores are fractions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from psy_agents.data.criteria_text import POST_LABELS, SYMPTOMS


def expected_calibration_error(y_true: Sequence[int], prob: Sequence[float], n_bins: int = 10) -> float:
    """Standard binary ECE: |accuracy - confidence| per equal-width confidence bin, weighted by bin size.

    The confidence is the probability of the predicted class (max(p, 1 - p)); bins are (lo, hi] as in Guo et al. 2017.
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(prob, dtype=float)
    if y.size == 0:
        raise ValueError("expected_calibration_error: no examples")
    pred = (p >= 0.5).astype(int)
    confidence = np.where(pred == 1, p, 1.0 - p)
    correct = (pred == y).astype(float)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def _binary_f1(y: np.ndarray, pred: np.ndarray) -> float:
    return float(f1_score(y, pred, pos_label=1, zero_division=0))


def classification_metrics(
    y_true: Sequence[int],
    prob: Sequence[float],
    threshold: float = 0.5,
    groups: Sequence[str] | None = None,
    decided: Sequence[bool] | None = None,
) -> dict[str, Any]:
    """Binary metrics of one agent's predictions; `groups` (e.g. the symptom of each example) adds per-group F1.

    `decided`: the decisions, where they were not all made at one threshold (cross-fitted validation scores);
    by default prob >= threshold."""
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(prob, dtype=float)
    pred = (p >= threshold if decided is None else np.asarray(decided, dtype=bool)).astype(int)
    out: dict[str, Any] = {
        "macro_f1": float(f1_score(y, pred, average="macro", labels=[0, 1], zero_division=0)),
        "binary_f1": _binary_f1(y, pred),
        "accuracy": float(accuracy_score(y, pred)),
        # AUROC is undefined when only one class is present (e.g. a tiny validation split).
        "auroc": float(roc_auc_score(y, p)) if np.unique(y).size == 2 else None,
        "ece": expected_calibration_error(y, p),
        "n": int(y.size),
        "positives": int(y.sum()),
    }
    if groups is not None:
        g = np.asarray(groups)
        out["per_group_f1"] = {str(name): _binary_f1(y[g == name], pred[g == name]) for name in np.unique(g)}
    return out


def symptom_f1(y_true: Sequence[int], pred: Sequence[int], symptoms: Sequence[str]) -> float:
    """Mean over the symptoms that have a positive here of the positive-class F1 of their rows.

    The selection metric of every classification decision: rows are (sentence, criterion) for the criteria agent
    and (post, criterion) for the span agents, where it is the post-level macro F1 over the nine symptoms. Predicting
    nothing (or the majority class, 0) scores 0; a symptom without positives here is left out, since any decision
    on it would be scored 0 or 1 by convention alone.
    """
    y, p, g = np.asarray(y_true, dtype=int), np.asarray(pred, dtype=int), np.asarray(symptoms)
    scores = [_binary_f1(y[g == s], p[g == s]) for s in np.unique(g) if y[g == s].any()]
    return float(np.mean(scores)) if scores else 0.0


def best_threshold(y_true: Sequence[int], prob: Sequence[float], symptoms: Sequence[str]) -> float:
    """The threshold on P(label=1) with the best symptom_f1: predict 1 iff prob >= threshold.

    Every cut between two distinct probabilities is tried at once (cumulative counts per symptom along the
    probabilities sorted high to low); the threshold is the midpoint of the best cut, so it sits on no example.
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(prob, dtype=float)
    if y.size == 0:
        raise ValueError("best_threshold: no examples")
    names, group = np.unique(np.asarray(symptoms), return_inverse=True)
    values, inverse = np.unique(-p, return_inverse=True)  # distinct probabilities, high to low
    values = -values
    pos = np.zeros((values.size, names.size))
    neg = np.zeros((values.size, names.size))
    np.add.at(pos, (inverse, group), y == 1)
    np.add.at(neg, (inverse, group), y == 0)
    tp = np.vstack([np.zeros(names.size), np.cumsum(pos, axis=0)])  # cut k predicts the top k values positive
    fp = np.vstack([np.zeros(names.size), np.cumsum(neg, axis=0)])
    fn = pos.sum(axis=0) - tp
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=tp > 0)
    counted = pos.sum(axis=0) > 0
    if not counted.any():  # no positive at all: predict nothing
        return float(np.nextafter(values[0], np.inf))
    k = int(np.argmax(f1[:, counted].mean(axis=1)))
    cuts = np.concatenate([[np.nextafter(values[0], np.inf)], (values[:-1] + values[1:]) / 2, [values[-1]]])
    return float(cuts[k])


def _post_matrix(rows: np.ndarray, cols: np.ndarray, present: np.ndarray, n_posts: int) -> np.ndarray:
    """Post x POST_LABELS indicator matrix; a post shows a symptom if any of its rows says so."""
    matrix = np.zeros((n_posts, len(POST_LABELS)), dtype=int)
    np.maximum.at(matrix, (rows, cols), present.astype(int))
    matrix[:, -1] = matrix[:, :-1].max(axis=1) == 0  # NO_SYMPTOMS: none of the nine
    return matrix


def post_level_metrics(
    post_ids: Sequence[Any],
    symptoms: Sequence[str],
    y_true: Sequence[int],
    prob: Sequence[float],
    threshold: float = 0.5,
    decided: Sequence[bool] | None = None,
) -> dict[str, Any]:
    """Multi-label F1 over nine symptoms + NO_SYMPTOMS per post, from per (post, symptom) rows.

    The protocol of the ReDSM5 reference results: micro and macro F1 over the 10 post labels, at `threshold` (the
    fitted one; or the rows' own decisions `decided`, as in classification_metrics) and at 0.5 as the authors'
    notebooks compute them, beside the floor of predicting no symptom for every post (NO_SYMPTOMS is then right for
    every post without one, so that floor is not 0).
    """
    unknown = sorted(set(symptoms) - set(SYMPTOMS))
    if unknown:
        raise ValueError(f"post_level_metrics: unknown symptom(s) {unknown}")
    posts, rows = np.unique(np.asarray(post_ids, dtype=object).astype(str), return_inverse=True)
    cols = np.array([SYMPTOMS.index(s) for s in symptoms], dtype=int)
    p = np.asarray(prob, dtype=float)
    truth = _post_matrix(rows, cols, np.asarray(y_true, dtype=int) == 1, len(posts))

    def scores(present: np.ndarray) -> tuple[float, float, np.ndarray]:
        pred = _post_matrix(rows, cols, present, len(posts))
        return (float(f1_score(truth, pred, average="micro", zero_division=0)),
                float(f1_score(truth, pred, average="macro", zero_division=0)),
                f1_score(truth, pred, average=None, zero_division=0))

    micro, macro, per_label = scores(p >= threshold if decided is None else np.asarray(decided, dtype=bool))
    micro_05, macro_05, _ = scores(p >= 0.5)
    floor_micro, floor_macro, _ = scores(np.zeros(p.size, dtype=bool))
    return {
        "micro_f1": micro,
        "macro_f1": macro,
        "micro_f1_at_05": micro_05,
        "macro_f1_at_05": macro_05,
        "floor_micro_f1": floor_micro,
        "floor_macro_f1": floor_macro,
        "per_label_f1": {label: float(f) for label, f in zip(POST_LABELS, per_label)},
        "n_posts": int(len(posts)),
    }
