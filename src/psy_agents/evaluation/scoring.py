"""Decisions and scores from per-example prediction records, the same for every model, the baseline and the floors.

A record (see training.tasks `records`) holds nothing that depends on a threshold: criteria, the log-odds of label 1
per (sentence, criterion); span agents, per (post, criterion) the best span over the post's windows whatever the
null score, its margin over the null score, the evidence word counts of answering with it, the same for each
further candidate sentence (`more`: evidence may be several sentences), and (share/joint) the classification log-odds.
So thresholds and calibration are fitted on records of held-out data (`fit_thresholds`) and applied anywhere
(`score`), and every `primary` comes from one function.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from psy_agents.evaluation.metrics import best_threshold, classification_metrics, post_level_metrics, symptom_f1
from psy_agents.evaluation.spans import answered, evidence_f1, fit_span_thresholds, squad_v2_scores

# The top-level scalar validation metrics of each agent: what an HPO objective may name. Every agent's selection
# metric (HPO objective, early stopping, CV, refit, baseline) is `primary`; see `score`.
_SPAN_METRICS = ("primary", "evidence_f1", "evidence_precision", "evidence_recall", "symptom_f1", "exact", "f1",
                 "has_ans_f1", "no_ans_exact", "ece")
SCALAR_METRICS = {
    "criteria": ("primary", "macro_f1", "binary_f1", "accuracy", "auroc", "ece"),
    "evidence": _SPAN_METRICS,
    "share": _SPAN_METRICS,
    "joint": _SPAN_METRICS,
}


def calibrates(agent: str, loss: str = "ce", label_smoothing: float = 0.0) -> bool:
    """Whose probabilities no analytic shift corrects, so they are Platt-calibrated on held-out records: focal
    loss, label smoothing, and the evidence agent, whose P(symptom) is the sigmoid of a span-vs-null score margin,
    which no loss trains as a probability."""
    return agent == "evidence" or loss == "focal" or label_smoothing > 0


def sigmoid(margin: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(margin, -50, 50)))


def _logits(agent: str, records: list[dict], null: float) -> np.ndarray:
    """The log-odds of label 1 per record: the classification head's, or for evidence the span margin."""
    if agent != "evidence":
        return np.array([r["logit"] for r in records], dtype=float)
    return np.array([r["margin"] + null if r["margin"] is not None else -50.0 for r in records])


def _platt(logits: np.ndarray, labels: list[int]) -> tuple[float, float]:
    """Platt scaling (scale, bias) of the log-odds, fitted by logistic regression on held-out records."""
    if len(set(labels)) < 2:
        return 1.0, 0.0
    fit = LogisticRegression(C=1e4, max_iter=1000).fit(np.clip(logits, -50, 50).reshape(-1, 1), labels)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def _references(prediction: dict) -> list[str]:
    """SQuAD references of a pair: each gold span, and with several their text-order join, which an answer of
    several sentences (joined the same way) matches."""
    gold = [g[2] for g in sorted(prediction["gold"])]
    return gold + [" ".join(gold)] if len(gold) > 1 else gold


def fit_thresholds(agent: str, records: list[dict], calibrate: bool) -> dict[str, float]:
    """Thresholds and calibration fitted on records of data the model did not train on.

    null and further (span agents): the answer-vs-null thresholds of a pair's best span and of its further
    sentences, with the best evidence F1 (`fit_span_thresholds`); calibration: Platt scaling if
    `calibrate` (needs_calibration), else none; decision: the threshold on the calibrated P(label 1) with the best
    symptom_f1 (per sentence for criteria, per post for the span agents, the post-level symptom macro F1).
    """
    null = further = 0.0
    if agent != "criteria":
        null, further = fit_span_thresholds([r for r in records if r["scored"]])
    logits = _logits(agent, records, null)
    labels = [r["label"] for r in records]
    scale, bias = _platt(logits, labels) if calibrate else (1.0, 0.0)
    decision = best_threshold(labels, sigmoid(scale * logits + bias), [r["symptom"] for r in records])
    return {"decision": decision, "null": null, "further": further, "calib_scale": scale, "calib_bias": bias}


def score(agent: str, records: list[dict], thresholds: dict[str, float]) -> tuple[dict, list[dict]]:
    """Metrics and predictions (the records with their decisions) of records under thresholds.

    primary: criteria, the mean over symptoms of the positive-class F1 of the (sentence, criterion) decisions;
    evidence, the evidence F1 (words, pooled over (post, criterion) pairs); share and joint, the mean of the
    post-level symptom macro F1 and the evidence F1. A trivial predictor (majority, predict nothing, always no
    answer) scores 0 on each. Each prediction adds `prob`, and a span agent's `answer` (the answered spans as
    [start, end, text], in text order; none for no answer) with their evidence counts `answer_counts`.
    """
    null = thresholds["null"]
    prob = sigmoid(thresholds["calib_scale"] * _logits(agent, records, null) + thresholds["calib_bias"])
    labels = [r["label"] for r in records]
    symptoms = [r["symptom"] for r in records]
    decision = thresholds["decision"]
    cls = classification_metrics(labels, prob, decision, groups=symptoms)
    symptom = symptom_f1(labels, prob >= decision, symptoms)
    predictions = [{**r, "prob": round(float(p), 6)} for r, p in zip(records, prob, strict=True)]
    if agent == "criteria":
        return {"primary": symptom, **cls, "thresholds": thresholds}, predictions
    for pred in predictions:
        pred["answer"], pred["answer_counts"] = answered(pred, null, thresholds["further"])
    scored = [p for p in predictions if p["scored"]]
    evidence = evidence_f1([p["answer_counts"] for p in scored])
    squad = squad_v2_scores([" ".join(a[2] for a in p["answer"]) for p in scored], [_references(p) for p in scored])
    post = post_level_metrics([r["post_id"] for r in records], symptoms, labels, prob, decision)
    primary = evidence["evidence_f1"] if agent == "evidence" else (symptom + evidence["evidence_f1"]) / 2
    metrics = {"primary": primary, **evidence, "symptom_f1": symptom, **squad, "ece": cls["ece"], "cls": cls,
               "post": post, "thresholds": thresholds}
    return metrics, predictions
