"""Decisions and scores from per-example prediction records, the same for every model, the baseline and the floors.

A record (evaluation.records, built by training.tasks `records` and the baseline; read here as its dict) holds
nothing that depends on a threshold: criteria, the log-odds of label 1 per (sentence, criterion); span agents, per
(post, criterion) the best span over the post's windows whatever the null score, its margin over the null score, the
evidence word counts of answering with it, the same for each further candidate sentence (`more`: evidence may be
several sentences), and (share/joint) the classification log-odds. So thresholds and calibration are fitted on records of held-out data (`fit_thresholds`) and applied anywhere
(`decide`), and every `primary` comes from one function (`metrics_of`): `score` under one set of thresholds (test,
new posts), `cross_fitted` for the held-out records the thresholds are fitted on (validation).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from psy_agents.errors import InputError
from psy_agents.evaluation.metrics import best_threshold, classification_metrics, post_level_metrics, symptom_f1
from psy_agents.evaluation.spans import answered, evidence_f1, fit_span_thresholds, squad_v2_scores
from psy_agents.evaluation.thresholds import Thresholds

# The top-level scalar validation metrics of each agent: what an HPO objective may name. Every agent's selection
# metric (HPO objective, early stopping, CV, refit, baseline) is `primary`; see `metrics_of`.
_SPAN_METRICS = ("primary", "evidence_f1", "evidence_precision", "evidence_recall", "symptom_f1", "exact", "f1",
                 "has_ans_f1", "no_ans_exact", "ece")
SCALAR_METRICS = {
    "criteria": ("primary", "macro_f1", "binary_f1", "accuracy", "auroc", "ece"),
    "evidence": _SPAN_METRICS,
    "share": _SPAN_METRICS,
    "joint": _SPAN_METRICS,
}
# The split of validation posts into cross-fitting halves never depends on a trial, so every trial and the baseline
# are scored on the same halves.
CROSS_FIT_SEED = 0


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


def fit_thresholds(agent: str, records: list[dict], calibrate: bool) -> Thresholds:
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
    return Thresholds(decision=decision, null=null, further=further, calib_scale=scale, calib_bias=bias)


def decide(agent: str, records: list[dict], thresholds: Thresholds) -> list[dict]:
    """The predictions of records under thresholds: each record adds `prob` (the calibrated P(label 1), rounded),
    its `decision` (0/1, what the metrics count: `prob` is rounded, so it cannot always recompute it), and a span
    agent's `answer` (the answered spans as [start, end, text], in text order; none for no answer) with their
    evidence counts `answer_counts`."""
    null = thresholds.null
    prob = sigmoid(thresholds.calib_scale * _logits(agent, records, null) + thresholds.calib_bias)
    predictions = [{**r, "prob": round(float(p), 6), "decision": int(p >= thresholds.decision)}
                   for r, p in zip(records, prob, strict=True)]
    if agent != "criteria":
        for pred in predictions:
            pred["answer"], pred["answer_counts"] = answered(pred, null, thresholds.further)
    return predictions


def metrics_of(agent: str, predictions: list[dict]) -> dict:
    """The metrics of decided predictions, whatever thresholds decided each (one set, or cross-fitted halves).

    primary: criteria, the mean over symptoms of the positive-class F1 of the (sentence, criterion) decisions;
    evidence, the evidence F1 (words, pooled over (post, criterion) pairs); share and joint, the mean of the
    post-level symptom macro F1 and the evidence F1. A trivial predictor (majority, predict nothing, always no
    answer) scores 0 on each.
    """
    labels = [p["label"] for p in predictions]
    symptoms = [p["symptom"] for p in predictions]
    prob = np.array([p["prob"] for p in predictions], dtype=float)
    decided = np.array([p["decision"] for p in predictions], dtype=bool)
    cls = classification_metrics(labels, prob, groups=symptoms, decided=decided)
    symptom = symptom_f1(labels, decided, symptoms)
    if agent == "criteria":
        return {"primary": symptom, **cls}
    scored = [p for p in predictions if p["scored"]]
    evidence = evidence_f1([p["answer_counts"] for p in scored])
    squad = squad_v2_scores([" ".join(a[2] for a in p["answer"]) for p in scored], [_references(p) for p in scored])
    post = post_level_metrics([p["post_id"] for p in predictions], symptoms, labels, prob, decided=decided)
    primary = evidence["evidence_f1"] if agent == "evidence" else (symptom + evidence["evidence_f1"]) / 2
    return {"primary": primary, **evidence, "symptom_f1": symptom, **squad, "ece": cls["ece"], "cls": cls,
            "post": post}


def score(agent: str, records: list[dict], thresholds: Thresholds) -> tuple[dict, list[dict]]:
    """Metrics and predictions (`decide`) of records under thresholds fitted elsewhere (test, new posts)."""
    predictions = decide(agent, records, thresholds)
    return {**metrics_of(agent, predictions), "thresholds": thresholds.to_dict()}, predictions


def post_halves(records: list[dict], seed: int = CROSS_FIT_SEED) -> tuple[list[int], list[int]]:
    """The indices of records in two halves of their posts: the sorted post ids in a seeded permutation, so the
    halves depend on the post ids and the seed only (no hashing, no record order)."""
    posts = sorted({str(r["post_id"]) for r in records})
    if len(posts) < 2:
        raise InputError(f"cross-fitted validation scores need at least 2 validation posts, got {len(posts)}")
    order = np.random.default_rng(seed).permutation(len(posts))
    first = {posts[i] for i in order[: len(posts) // 2]}
    in_first = [str(r["post_id"]) in first for r in records]
    return [i for i, f in enumerate(in_first) if f], [i for i, f in enumerate(in_first) if not f]


def cross_fitted(agent: str, records: list[dict], calibrate: bool,
                 seed: int = CROSS_FIT_SEED) -> tuple[dict, list[dict]]:
    """Metrics and predictions of held-out records with no record decided by thresholds fitted on it.

    Thresholds and calibration fitted on half of the posts (`post_halves`) decide the other half, both ways, and
    the metrics are those of the union. Scoring the records they were fitted on would flatter the fit: a fitted
    decision threshold inflates primary, and Platt scaling makes the ECE near 0 by construction. What selects a
    run (a trial's objectives, early stopping, pruning, CV fold scores, the baseline's val column) is scored so;
    the thresholds a model keeps are still fitted on all of its held-out records.
    """
    first, second = post_halves(records, seed)
    decided: dict[int, dict] = {}
    for fit_on, decide_on in ((first, second), (second, first)):
        thresholds = fit_thresholds(agent, [records[i] for i in fit_on], calibrate)
        decided.update(zip(decide_on, decide(agent, [records[i] for i in decide_on], thresholds), strict=True))
    predictions = [decided[i] for i in range(len(records))]  # in record order
    return metrics_of(agent, predictions), predictions
