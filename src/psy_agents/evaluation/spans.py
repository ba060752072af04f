"""Span answers from start/end logits over sliding windows, and SQuAD-v2 scores (as fractions in [0, 1]).

`best_answers` follows transformers' examples/pytorch/question-answering/utils_qa.py `postprocess_qa_predictions`
with version_2_with_negative: n-best start x end candidates per window, the null score of an example is the minimum
CLS score over its windows (every window must agree that there is no answer), and null is predicted when it beats the
best span by more than `null_threshold`. The scoring functions reproduce the official SQuAD v2.0 evaluation script.
"""

from __future__ import annotations

import bisect
import collections
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
    # float64: masked positions hold float32's minimum, and two of them overflow a float32 sum
    scores = np.where(valid, start_logits[starts][:, None].astype(np.float64) + end_logits[ends][None, :], -np.inf)
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


def best_sentences(
    n_examples: int,
    feature_example_index: Sequence[int],
    window_sentences: Sequence[Sequence[tuple[int, int]]],
    sentence_logits: np.ndarray,
    contexts: Sequence[str],
) -> list[dict[str, Any]]:
    """best_answers for the sentence span unit: each window scores no answer (index 0) and its candidate sentences
    (1..S, whose character spans `window_sentences` holds); the null score of an example is its windows' minimum
    and its answer the best-scoring sentence of any window, in best_answers' format (null_threshold left to the
    caller: `score` is None only when no window has a candidate). `sentences` adds every candidate sentence of the
    example as (score, start, end), a sentence read by several windows with its best score, best first: evidence
    may be several sentences (`answered`)."""
    null = np.full(n_examples, np.inf)
    scores: list[dict[tuple[int, int], float]] = [{} for _ in range(n_examples)]
    for window, example in enumerate(feature_example_index):
        row = sentence_logits[window]
        null[example] = min(null[example], float(row[0]))
        for j, span in enumerate(window_sentences[window]):
            span = (int(span[0]), int(span[1]))
            scores[example][span] = max(scores[example].get(span, -np.inf), float(row[1 + j]))
    answers = []
    for example, found in enumerate(scores):
        if not np.isfinite(null[example]):
            raise ValueError(f"best_sentences: example {example} has no window")
        ranked = rank_sentences((z, *span) for span, z in found.items())
        score, start, end = ranked[0] if ranked else (None, -1, -1)
        answers.append({"text": contexts[example][start:end] if ranked else "", "start": start, "end": end,
                        "score": score, "null_score": float(null[example]), "sentences": ranked})
    return answers


_WORD = re.compile(r"\w+")


class _Words:
    """The `\\w+` runs of a post, by position; a word belongs to a span it overlaps."""

    def __init__(self, context: str) -> None:
        self.starts, self.ends = [], []
        for match in _WORD.finditer(context):
            self.starts.append(match.start())
            self.ends.append(match.end())

    def of(self, *spans: tuple[int, int]) -> set[int]:
        return set().union(*(range(bisect.bisect_right(self.ends, s), bisect.bisect_left(self.starts, e))
                             for s, e in spans))


def evidence_counts(context: str, predicted: tuple[int, int] | None, golds: Sequence[tuple[int, int]]) -> list[int]:
    """[predicted words, gold words, words in both] of one (post, criterion) pair.

    Words are the `\\w+` runs of the post, counted by position (not as a bag, unlike SQuAD's token F1); a word
    belongs to a span it overlaps. A no-answer prediction has no words, and neither has a pair without evidence.
    """
    words = _Words(context)
    gold = words.of(*golds)
    pred = words.of(predicted) if predicted is not None else set()
    return [len(pred), len(gold), len(pred & gold)]


def rank_sentences(candidates: Iterable[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
    """Candidate sentences (score, start, end) best first, a tie in text order: the order `further_sentences`
    counts new words in."""
    return sorted(candidates, key=lambda c: (-c[0], c[1]))


@dataclass(frozen=True)
class Further:
    """One of a span record's further candidate sentences (its `more`, sentence unit): its margin over the null
    score, its span and text, the words it adds (`words`: those no better-ranked sentence holds) and how many of
    them are gold evidence (`in_gold`). In a record's dict (evaluation.records) it is the mapping of these names."""

    margin: float
    start: int
    end: int
    text: str
    words: int
    in_gold: int


def further_sentences(context: str, ranked: Sequence[tuple[float, int, int]], null_score: float,
                      golds: Sequence[tuple[int, int]]) -> list[Further]:
    """A record's `more`: the candidate sentences after the best one, best first. A sentence counts only the words
    no better-ranked sentence holds, and what a threshold answers is always a best-first prefix, so the counts of
    the answered sentences add up (`answered`)."""
    words = _Words(context)
    gold = words.of(*golds)
    seen = words.of(ranked[0][1:]) if ranked else set()
    more = []
    for z, start, end in ranked[1:]:
        new = words.of((start, end)) - seen
        seen |= new
        more.append(Further(margin=round(z - null_score, 6), start=start, end=end, text=context[start:end],
                            words=len(new), in_gold=len(new & gold)))
    return more


def answered(record: dict, null: float, further: float) -> tuple[list[list], list[int]]:
    """The spans a span record answers, in text order, and their evidence counts [predicted, gold, both]: its best
    span when its margin clears the null threshold (`margin + null >= 0`), and then every further sentence (`more`,
    sentence unit) whose margin clears the further threshold (`margin + further >= 0`); nothing otherwise."""
    gold = record["counts"][1]
    if record["margin"] is None or not record["margin"] + null >= 0:  # NaN (a diverged run) answers nothing
        return [], [0, gold, 0]
    spans, (predicted, _, both) = [record["span"]], record["counts"]
    for sentence in record.get("more", ()):
        if sentence["margin"] + further >= 0:
            spans.append([sentence["start"], sentence["end"], sentence["text"]])
            predicted, both = predicted + sentence["words"], both + sentence["in_gold"]
    return sorted(spans), [predicted, gold, both]


def fit_span_thresholds(records: Sequence[dict]) -> tuple[float, float]:
    """The (null, further) thresholds of `answered` with the best evidence F1 on held-out records.

    A pair is answered when its best sentence beats "no answer" by the null threshold; a further sentence of an
    answered pair by the further one, which may differ: an encoder whose further sentences score near its best
    (joint's conditioned tokens) answers too many at one shared threshold. Each threshold is exact given the other
    (`best_null_threshold`); two rounds of that from the one-sentence optimum and from the shared one, keeping the
    better, so the fit never scores below either rule on the records it is fitted on.
    """
    tops = [r["margin"] if r["margin"] is not None else -np.inf for r in records]
    # further sentences of pairs a threshold can answer (a NaN best margin never is)
    further_items = [(i, s["margin"], [s["words"], 0, s["in_gold"]]) for i, r in enumerate(records)
                     if np.isfinite(tops[i]) for s in r.get("more", ())]

    def f1(null: float, further: float) -> float:
        return evidence_f1([answered(r, null, further)[1] for r in records])["evidence_f1"]

    def best_null(further: float) -> float:  # each pair's counts: its best span and the further ones answered
        return best_null_threshold(tops, [answered(r, np.inf, further)[1] for r in records])

    def best_further(null: float) -> float:  # the answered pairs' best spans are fixed: a base every cut adds to
        alone = [answered(r, null, -np.inf) for r in records]
        items = [(m, c) for i, m, c in further_items if alone[i][0]]
        return best_null_threshold([m for m, _ in items], [c for _, c in items],
                                   base=np.sum([counts for _, counts in alone], axis=0))

    single = best_null(-np.inf)
    shared = best_null_threshold(tops + [m for _, m, _ in further_items],
                                 [r["counts"] for r in records] + [c for _, _, c in further_items])
    fits = []
    for null in (single, shared):
        for _ in range(2):
            further = best_further(null)
            null = best_null(further)
        fits.append((f1(null, further), null, further))
    _, null, further = max(fits, key=lambda fit: fit[0])
    return null, further


def evidence_f1(counts: Sequence[Sequence[int]]) -> dict[str, float]:
    """Evidence precision, recall and F1 over words, pooled over all (post, criterion) pairs.

    A predicted span's words count toward precision, gold evidence words toward recall, and a no-answer prediction
    adds to neither: answering "no answer" everywhere scores 0, unlike SQuAD v2 F1, where it scores the share of
    pairs without evidence.
    """
    pred, gold, both = (np.asarray(counts, dtype=float).reshape(-1, 3).sum(axis=0) if len(counts) else (0, 0, 0))
    return {
        "evidence_precision": float(both / pred) if pred else 0.0,
        "evidence_recall": float(both / gold) if gold else 0.0,
        "evidence_f1": float(2 * both / (pred + gold)) if both else 0.0,
    }


def best_null_threshold(margins: Sequence[float], counts: Sequence[Sequence[int]],
                        base: Sequence[float] = (0, 0, 0)) -> float:
    """The `null_threshold` of best_answers with the best evidence_f1 (and either threshold of
    `fit_span_thresholds`, given the other).

    `margins[i]` = best span score - null score of item i (-inf without a valid span), `counts[i]` the
    evidence_counts of answering it with that span; an item is answered iff margin + threshold >= 0, and `base`
    holds counts every cut adds (what is answered whatever this threshold). Answering the k highest margins gives
    F1 = 2 * both / (predicted + all gold words), so every cut is scored at once; each cut is placed midway between
    margins.
    """
    m = np.asarray(margins, dtype=float)
    c = np.asarray(counts, dtype=float).reshape(-1, 3)
    answerable = np.isfinite(m)
    if not answerable.any():
        return 0.0
    order = np.argsort(-m[answerable], kind="stable")  # answer the k highest margins
    sorted_m = m[answerable][order]
    pred = base[0] + np.concatenate([[0.0], np.cumsum(c[answerable][order, 0])])
    both = base[2] + np.concatenate([[0.0], np.cumsum(c[answerable][order, 2])])
    f1 = np.divide(2 * both, pred + c[:, 1].sum() + base[1], out=np.zeros_like(both), where=both > 0)
    # Only cuts between distinct margins can be realised by a threshold.
    valid = np.concatenate([[True], sorted_m[:-1] > sorted_m[1:], [True]])
    k = int(np.argmax(np.where(valid, f1, -np.inf)))
    if k == 0:
        return -float(sorted_m[0]) - 1.0
    if k == len(sorted_m):
        return -float(sorted_m[-1]) + 1.0
    return -float((sorted_m[k - 1] + sorted_m[k]) / 2)


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
