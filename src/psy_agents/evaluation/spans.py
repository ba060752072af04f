"""Span answers from start/end logits over sliding windows, and SQuAD-v2 scores (as fractions in [0, 1]).

`best_answers` follows transformers' examples/pytorch/question-answering/utils_qa.py `postprocess_qa_predictions`
with version_2_with_negative: n-best start x end candidates per window, the null score of an example is the minimum
CLS score over its windows (every window must agree that there is no answer), and null is predicted when it beats the
best span by more than `null_threshold`. The scoring functions reproduce the official SQuAD v2.0 evaluation script.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

Offsets = Sequence[tuple[int, int] | None]

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def _best_span(
    start_logits: np.ndarray, end_logits: np.ndarray, offsets: Offsets, n_best: int, max_answer_tokens: int
) -> tuple[float, int, int] | None:
    """Best (score, char_start, char_end) among the n-best start x end pairs of one window, or None if none is valid."""
    in_context = np.zeros(len(start_logits), dtype=bool)
    in_context[: len(offsets)] = [o is not None for o in offsets[: len(start_logits)]]
    starts = np.argsort(-start_logits, kind="stable")[:n_best]
    ends = np.argsort(-end_logits, kind="stable")[:n_best]
    length = ends[None, :] - starts[:, None] + 1
    valid = in_context[starts][:, None] & in_context[ends][None, :] & (length >= 1) & (length <= max_answer_tokens)
    if not valid.any():
        return None
    scores = np.where(valid, start_logits[starts][:, None] + end_logits[ends][None, :], -np.inf)
    i, j = np.unravel_index(np.argmax(scores), scores.shape)
    return float(scores[i, j]), offsets[starts[i]][0], offsets[ends[j]][1]


def best_answers(
    n_examples: int,
    feature_example_index: Sequence[int],
    offset_mapping: Sequence[Offsets],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    contexts: Sequence[str],
    n_best: int = 20,
    max_answer_tokens: int = 64,
    null_threshold: float = 0.0,
) -> list[dict[str, Any]]:
    """One answer per example: {"text", "start", "end", "score", "null_score"}.

    `start`/`end` are character offsets into the example's context (end exclusive); a null answer is "" with
    start = end = -1. `score` is the best non-null span score (None when no window has a valid span, which then
    predicts null), so callers can tune `null_threshold` on `score - null_score`.
    """
    windows: dict[int, list[int]] = collections.defaultdict(list)
    for window, example in enumerate(feature_example_index):
        windows[example].append(window)
    answers = []
    for example in range(n_examples):
        if not windows[example]:
            raise ValueError(f"best_answers: example {example} has no window")
        null_score = min(float(start_logits[w][0] + end_logits[w][0]) for w in windows[example])
        spans = [
            span
            for w in windows[example]
            if (span := _best_span(start_logits[w], end_logits[w], offset_mapping[w], n_best, max_answer_tokens))
        ]
        best = max(spans, key=lambda s: s[0], default=None)
        if best is None or null_score > best[0] + null_threshold:
            text, start, end = "", -1, -1
        else:
            _, start, end = best
            text = contexts[example][start:end]
        score = None if best is None else best[0]
        answers.append({"text": text, "start": start, "end": end, "score": score, "null_score": null_score})
    return answers


def best_null_threshold(
    margins: Sequence[float], f1_answer: Sequence[float], f1_null: Sequence[float],
    weights: Sequence[float] | None = None,
) -> float:
    """The `null_threshold` of best_answers with the best (weighted) mean F1, as SQuAD v2's find_best_thresh.

    `margins[i]` = best span score - null score of example i (-inf without a valid span); an example is answered iff
    margin + threshold >= 0 and then scores f1_answer[i], else f1_null[i]. Each cut is placed midway between margins.
    """
    m = np.asarray(margins, dtype=float)
    gain = np.asarray(f1_answer, dtype=float) - np.asarray(f1_null, dtype=float)
    w = np.ones_like(m) if weights is None else np.asarray(weights, dtype=float)
    answerable = np.isfinite(m)
    if not answerable.any():
        return 0.0
    order = np.argsort(-m[answerable], kind="stable")  # answer the k highest margins
    sorted_m = m[answerable][order]
    totals = np.concatenate([[0.0], np.cumsum((w * gain)[answerable][order])])
    # Only cuts between distinct margins can be realised by a threshold.
    valid = np.concatenate([[True], sorted_m[:-1] > sorted_m[1:], [True]])
    k = int(np.argmax(np.where(valid, totals, -np.inf)))
    if k == 0:
        return -float(sorted_m[0]) - 1.0
    if k == len(sorted_m):
        return -float(sorted_m[-1]) + 1.0
    return -float((sorted_m[k - 1] + sorted_m[k]) / 2)


def span_scored(rows: Sequence[dict]) -> list[int]:
    """Indices of the rows span scores count: a label-1 row whose sentence could not be located has no gold span."""
    return [i for i, row in enumerate(rows) if not (row["label"] and not row["answers"])]


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and English articles, collapse whitespace (official SQuAD normalisation)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> int:
    return int(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        # A no-answer on either side scores 1 only when both are no-answer.
        return float(pred_tokens == gold_tokens)
    same = sum((collections.Counter(pred_tokens) & collections.Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def squad_v2_scores(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Exact match and token F1 (max over gold answers), overall and split into answerable / unanswerable.

    An empty reference list is a no-answer question, scored against "" as the official script does. Scores are
    fractions in [0, 1] (the official script prints percentages); a subset without questions scores None.
    """
    if len(predictions) != len(references):
        raise ValueError(f"squad_v2_scores: {len(predictions)} predictions for {len(references)} questions")
    exact: dict[bool, list[float]] = {True: [], False: []}
    f1: dict[bool, list[float]] = {True: [], False: []}
    for prediction, golds in zip(predictions, references):
        has_answer = bool(golds)
        # As the official script: gold answers that normalise to nothing do not count; none left means no-answer.
        golds = [g for g in golds if normalize_answer(g)] or [""]
        exact[has_answer].append(max(exact_match(prediction, g) for g in golds))
        f1[has_answer].append(max(token_f1(prediction, g) for g in golds))
    return {
        "exact": _mean(exact[True] + exact[False]),
        "f1": _mean(f1[True] + f1[False]),
        "has_ans_exact": _mean(exact[True]),
        "has_ans_f1": _mean(f1[True]),
        "has_ans_total": len(exact[True]),
        "no_ans_exact": _mean(exact[False]),
        "no_ans_f1": _mean(f1[False]),
        "no_ans_total": len(exact[False]),
    }
