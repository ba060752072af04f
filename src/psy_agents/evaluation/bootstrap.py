"""Cluster bootstrap of `primary` over test posts: the uncertainty every headline comparison carries.

Posts are the clusters (the sentences and criteria of one post are not independent draws), so a resample draws the
test posts with replacement. Every agent's `primary` (scoring.score) is a function of counts that add up over
posts: per symptom the TP, FP and FN of the decisions (metrics.symptom_f1) and the pooled evidence words
[predicted, gold, both] (spans.evidence_f1). So a post x counts matrix is built once, a resample is a vector of
post multiplicities, and all resamples' counts are one matrix product: the same integers as scoring the resampled
predictions, at a fraction of the cost. Unit weights give `score`'s primary bit for bit (tests/test_bootstrap.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from psy_agents.errors import InputError

_WORDS = 3  # the evidence columns: [predicted, gold, both] words


def post_counts(agent: str, predictions: Sequence[dict]) -> tuple[list[str], np.ndarray]:
    """The posts (sorted, so draws depend on the set of posts, not on record order) and their counts: per symptom
    (sorted, as symptom_f1 averages them) TP, FP, FN of the `decision`s, then the evidence words of the scored
    pairs (span agents; zero for criteria)."""
    symptoms = sorted({p["symptom"] for p in predictions})
    posts = sorted({str(p["post_id"]) for p in predictions})
    row, column = {post: i for i, post in enumerate(posts)}, {s: 3 * i for i, s in enumerate(symptoms)}
    counts = np.zeros((len(posts), 3 * len(symptoms) + _WORDS), dtype=np.int64)
    for p in predictions:
        i, label, decision = row[str(p["post_id"])], p["label"], p["decision"]
        if label or decision:  # TP, FP or FN
            counts[i, column[p["symptom"]] + (0 if label and decision else 1 if decision else 2)] += 1
        if agent != "criteria" and p["scored"]:
            counts[i, -_WORDS:] += p["answer_counts"]
    return posts, counts


def _row_means(values: np.ndarray, included: np.ndarray) -> np.ndarray:
    """Each row's mean over its included columns (0 with none), as np.mean of those values computes it: the rows
    of one inclusion pattern at once, made contiguous (numpy sums a strided row in another order)."""
    means = np.zeros(len(values))
    patterns, which = np.unique(included, axis=0, return_inverse=True)
    which = which.ravel()  # its shape with an axis changed within numpy 2.0.x
    for k, pattern in enumerate(patterns):
        rows = which == k
        if pattern.any():
            means[rows] = np.ascontiguousarray(values[rows][:, pattern]).mean(axis=1)
    return means


def primaries(agent: str, totals: np.ndarray) -> np.ndarray:
    """`primary` of each row of summed post counts (post_counts' columns), as `score` computes it."""
    totals = np.asarray(totals, dtype=float)
    tp, fp, fn = (totals[:, :-_WORDS].reshape(len(totals), -1, 3)[..., j] for j in range(3))
    # sklearn's F1 is 2 TP / ((TP + FN) + (TP + FP)); exact integers here, so the quotient is the same float
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=tp > 0)
    symptom = _row_means(f1, tp + fn > 0)  # a symptom without positives is left out (symptom_f1)
    if agent == "criteria":
        return symptom
    predicted, gold, both = totals[:, -3], totals[:, -2], totals[:, -1]
    evidence = np.divide(2 * both, predicted + gold, out=np.zeros_like(both), where=both > 0)
    return evidence if agent == "evidence" else (symptom + evidence) / 2


def post_weights(n_posts: int, draws: int, seed: int) -> np.ndarray:
    """draws x posts multiplicities: each draw takes n_posts posts with replacement."""
    if n_posts < 1 or draws < 1:
        raise InputError(f"bootstrap: needs posts and draws, got {n_posts} posts and draws={draws}")
    return np.random.default_rng(seed).multinomial(n_posts, np.full(n_posts, 1 / n_posts), size=draws)


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def primary_interval(agent: str, predictions: Sequence[dict], draws: int, seed: int,
                     level: float) -> tuple[float, float]:
    """The percentile interval (central `level`) of `primary` over `draws` resamples of the posts."""
    posts, counts = post_counts(agent, predictions)
    return _interval(primaries(agent, post_weights(len(posts), draws, seed) @ counts), level)


def paired_difference(agent: str, predictions_a: Sequence[dict], predictions_b: Sequence[dict], draws: int, seed: int,
                      level: float) -> dict[str, float]:
    """primary(a) - primary(b), and its percentile interval over resamples that draw the same posts for both:
    "a beats b" when the interval excludes 0. Both must cover the same posts."""
    posts_a, counts_a = post_counts(agent, predictions_a)
    posts_b, counts_b = post_counts(agent, predictions_b)
    if posts_a != posts_b:
        raise InputError(f"bootstrap: the two prediction sets cover different posts ({len(posts_a)} and "
                         f"{len(posts_b)}, {len(set(posts_a) ^ set(posts_b))} in one only); score both on one split")
    ones = np.ones((1, len(posts_a)), dtype=np.int64)
    diff = primaries(agent, ones @ counts_a)[0] - primaries(agent, ones @ counts_b)[0]
    weights = post_weights(len(posts_a), draws, seed)
    low, high = _interval(primaries(agent, weights @ counts_a) - primaries(agent, weights @ counts_b), level)
    return {"diff": float(diff), "low": low, "high": high}


def versus_baseline(agent: str, predictions: Sequence[dict], baseline: Sequence[dict], draws: int, seed: int,
                    level: float) -> dict[str, float]:
    """The headline intervals of a test evaluation (metrics/{agent}/test.json): its primary's (low, high), and the
    paired difference to the TF-IDF baseline's test primary on the same draws (vs_tfidf, vs_low, vs_high). Short
    keys, `low`/`high` shared with baseline.json: `dvc metrics show` gives every key of every metrics file a column."""
    low, high = primary_interval(agent, predictions, draws, seed, level)
    vs = paired_difference(agent, predictions, baseline, draws, seed, level)
    return {"low": low, "high": high, "vs_tfidf": vs["diff"], "vs_low": vs["low"], "vs_high": vs["high"]}
