from dataclasses import asdict

import numpy as np
import pytest

from psy_agents.evaluation.spans import (
    Further,
    answered,
    best_answers,
    best_null_threshold,
    best_sentences,
    evidence_counts,
    evidence_f1,
    exact_match,
    fit_span_thresholds,
    further_sentences,
    normalize_answer,
    squad_v2_scores,
    token_f1,
)

CONTEXT = "I feel sad today"
# [CLS] question [SEP] I feel sad today [SEP]: only the four context tokens carry offsets.
OFFSETS = [None, None, None, (0, 1), (2, 6), (7, 10), (11, 16), None]


def _logits(start_at: dict[int, float], end_at: dict[int, float], length: int = 8) -> tuple[np.ndarray, np.ndarray]:
    start, end = np.zeros(length), np.zeros(length)
    for i, v in start_at.items():
        start[i] = v
    for i, v in end_at.items():
        end[i] = v
    return start, end


def _answers(windows, offsets, contexts, **kwargs):
    """windows: list of (example index, start logits, end logits)."""
    return best_answers(
        len(contexts),
        [w[0] for w in windows],
        offsets,
        np.stack([w[1] for w in windows]),
        np.stack([w[2] for w in windows]),
        contexts,
        **kwargs,
    )


def test_answer_found_in_one_window():
    start, end = _logits({5: 5.0}, {5: 4.0})
    [answer] = _answers([(0, start, end)], [OFFSETS], [CONTEXT])
    assert answer == {"text": "sad", "start": 7, "end": 10, "score": 9.0, "null_score": 0.0}


def test_answer_in_second_of_two_overlapping_windows():
    context = "I slept badly. I feel sad today"
    # Window 1 covers "I slept badly. I", window 2 (doc stride) covers "I feel sad today".
    w1 = [None, None, (0, 1), (2, 7), (8, 13), (13, 14), (15, 16), None]
    w2 = [None, None, None, (15, 16), (17, 21), (22, 25), (26, 31), None]
    other = [None, None, None, (0, 1), (2, 6), (7, 10), (11, 16), None]
    s1, e1 = _logits({3: 1.0}, {4: 1.0})
    s2, e2 = _logits({4: 3.0}, {5: 3.0})
    s3, e3 = _logits({0: 9.0}, {0: 9.0})  # a second example that wants no answer
    answers = _answers([(0, s1, e1), (1, s3, e3), (0, s2, e2)], [w1, other, w2], [context, CONTEXT])
    assert answers[0]["text"] == "feel sad" and (answers[0]["start"], answers[0]["end"]) == (17, 25)
    assert answers[1] == {"text": "", "start": -1, "end": -1, "score": 0.0, "null_score": 18.0}


def test_null_wins_and_threshold_shifts_the_decision():
    start, end = _logits({0: 3.0, 5: 2.0}, {0: 3.0, 5: 2.0})
    [answer] = _answers([(0, start, end)], [OFFSETS], [CONTEXT])
    assert (answer["text"], answer["start"], answer["end"]) == ("", -1, -1)
    assert (answer["score"], answer["null_score"]) == (4.0, 6.0)
    # Null must beat the best span by more than the threshold.
    [answer] = _answers([(0, start, end)], [OFFSETS], [CONTEXT], null_threshold=2.0)
    assert answer["text"] == "sad"


def test_null_score_is_minimum_over_windows():
    # Only one window is confident there is no answer: the example's null score is the lower CLS score.
    s1, e1 = _logits({0: 9.0}, {0: 9.0})
    s2, e2 = _logits({0: 1.0, 5: 2.0}, {0: 1.0, 5: 2.0})
    [answer] = _answers([(0, s1, e1), (0, s2, e2)], [OFFSETS, OFFSETS], [CONTEXT])
    assert answer["null_score"] == 2.0 and answer["text"] == "sad"


def test_max_answer_tokens_respected():
    # The widest span "I feel sad today" scores best but is four tokens long.
    start, end = _logits({3: 5.0, 5: 1.0}, {6: 5.0, 5: 1.0})
    [answer] = _answers([(0, start, end)], [OFFSETS], [CONTEXT], max_answer_tokens=2)
    assert answer["text"] == "sad today"
    [answer] = _answers([(0, start, end)], [OFFSETS], [CONTEXT], max_answer_tokens=4)
    assert answer["text"] == CONTEXT


def test_tokens_outside_context_and_reversed_spans_never_chosen():
    # Highest logits sit on question/special tokens (1, 2, 7) and on a reversed pair (start 6 > end 4).
    # The reversed pair would score 16; the best valid span is "feel" (start 4 + end 4 = 9), ahead of "today" (8).
    start, end = _logits({1: 9.0, 7: 9.0, 6: 8.0, 4: 1.0}, {2: 9.0, 7: 9.0, 4: 8.0})
    [answer] = _answers([(0, start, end)], [OFFSETS], [CONTEXT], null_threshold=100.0)
    assert (answer["text"], answer["score"]) == ("feel", 9.0)


def test_no_valid_span_predicts_null():
    start, end = _logits({}, {})
    [answer] = _answers([(0, start, end)], [[None] * 8], [CONTEXT], null_threshold=100.0)
    assert answer["text"] == "" and answer["score"] is None


def test_official_normalisation_and_token_scores():
    assert normalize_answer("The  Cat, sat on a MAT!") == "cat sat on mat"
    assert exact_match("the cat.", "Cat") == 1
    assert token_f1("I feel sad", "feel sad today") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("sad", "") == 0.0


def test_squad_v2_scores_are_fractions_split_by_answerability():
    scores = squad_v2_scores(
        ["feel sad", "", "sad", ""],
        [["I feel sad", "feel sad"], ["tired"], [], []],
    )
    assert scores["has_ans_total"] == 2 and scores["no_ans_total"] == 2
    assert scores["has_ans_exact"] == 0.5  # max over gold answers: the second gold matches exactly
    assert scores["has_ans_f1"] == 0.5
    assert scores["no_ans_exact"] == 0.5 and scores["no_ans_f1"] == 0.5  # "sad" on a no-answer question is wrong
    assert scores["exact"] == 0.5 and scores["f1"] == 0.5


def test_squad_v2_scores_empty_subset_is_none():
    scores = squad_v2_scores([""], [[]])
    assert scores["has_ans_f1"] is None and scores["has_ans_total"] == 0
    assert scores["f1"] == 1.0


def test_evidence_counts_words_by_position():
    post = "I sleep badly. I am sad, so sad."
    sad = (post.index("I am"), len(post))
    assert evidence_counts(post, sad, [sad]) == [5, 5, 5]
    # Only the second "sad" is predicted: a bag of words would count it as matching the first one too.
    second = (post.rindex("sad"), post.rindex("sad") + 3)
    assert evidence_counts(post, second, [(post.index("I am"), post.index(","))]) == [1, 3, 0]
    assert evidence_counts(post, None, [sad]) == [0, 5, 0]
    assert evidence_counts(post, sad, []) == [5, 0, 0]


def test_evidence_f1_perfect_is_one_and_no_answer_scores_zero():
    post = "I sleep badly. I am sad."
    golds = [[(0, 14)], [], [(15, 24)], []]
    perfect = [evidence_counts(post, g[0] if g else None, g) for g in golds]
    assert evidence_f1(perfect)["evidence_f1"] == 1.0
    no_answer = [evidence_counts(post, None, g) for g in golds]
    assert evidence_f1(no_answer) == {"evidence_precision": 0.0, "evidence_recall": 0.0, "evidence_f1": 0.0}
    # Pooled: one right span (3 words) and one spurious answer (3 words) on a pair without evidence.
    pooled = evidence_f1([evidence_counts(post, (0, 14), [(0, 14)]), evidence_counts(post, (15, 24), [])])
    assert pooled["evidence_precision"] == 0.5 and pooled["evidence_recall"] == 1.0


def test_best_null_threshold_answers_exactly_the_margins_worth_answering():
    # Margins (best span - null) and [predicted, gold, both] words: the first two answers are right, the third is
    # spurious, the fourth pair has no valid span.
    margins = [2.0, 1.0, -1.0, -np.inf]
    counts = [[3, 3, 3], [2, 4, 2], [5, 0, 0], [0, 2, 0]]
    t = best_null_threshold(margins, counts)
    assert [m + t >= 0 for m in margins] == [True, True, False, False]
    # Every answer wrong: answer nothing.
    t = best_null_threshold([3.0, 2.0], [[4, 0, 0], [4, 3, 0]])
    assert 3.0 + t < 0


def test_best_sentences_ranks_every_candidate_with_its_best_window_score():
    post = "I walked. I am sad. I cry."
    a, b, c = (0, 9), (10, 19), (20, 26)
    # two windows: the first reads a and b, the second b and c; b scores 2 in one and 4 in the other
    logits = np.array([[-1.0, 0.5, 2.0], [-3.0, 4.0, 1.0]])
    (answer,) = best_sentences(1, [0, 0], [[a, b], [b, c]], logits, [post])
    assert answer["text"] == "I am sad." and answer["score"] == 4.0 and answer["null_score"] == -3.0
    assert answer["sentences"] == [(4.0, *b), (1.0, *c), (0.5, *a)]


def test_a_record_answers_its_best_sentence_and_the_further_ones_that_clear_their_threshold():
    post = "I walked. I am sad. I cry."
    golds = [(10, 19), (20, 26)]
    ranked = [(4.0, 10, 19), (1.0, 20, 26), (0.5, 0, 9)]
    more = further_sentences(post, ranked, -3.0, golds)
    assert more == [Further(margin=4.0, start=20, end=26, text="I cry.", words=2, in_gold=2),
                    Further(margin=3.5, start=0, end=9, text="I walked.", words=2, in_gold=0)]
    record = {"span": [10, 19, "I am sad."], "margin": 7.0, "counts": evidence_counts(post, (10, 19), golds),
              "more": [asdict(sentence) for sentence in more]}  # as a record's dict holds them
    assert answered(record, 0.0, 0.0) == ([[0, 9, "I walked."], [10, 19, "I am sad."], [20, 26, "I cry."]],
                                          [7, 5, 5])
    assert answered(record, 0.0, -3.8) == ([[10, 19, "I am sad."], [20, 26, "I cry."]], [5, 5, 5])
    assert answered(record, 0.0, -5.0) == ([[10, 19, "I am sad."]], [3, 5, 3])
    assert answered(record, -7.5, 0.0) == ([], [0, 5, 0])
    # the fitted thresholds answer both evidence sentences and not the third
    null, further = fit_span_thresholds([record])
    assert answered(record, null, further)[1] == [5, 5, 5]


def _random_records(rng: np.random.Generator, n: int) -> list[dict]:
    """Records of several candidate sentences each, with random margins and word counts (as `further_sentences`
    gives them: best first, new words only)."""
    records = []
    for _ in range(n):
        k = int(rng.integers(1, 5))
        margins = np.sort(rng.normal(size=k).round(1))[::-1]  # rounded: ties happen
        words = rng.integers(1, 6, size=k)
        in_gold = [int(rng.integers(0, w + 1)) * int(rng.random() < 0.5) for w in words]
        gold = sum(in_gold) + int(rng.integers(0, 3))
        if rng.random() < 0.1:  # no candidate at all
            records.append({"span": [-1, -1, ""], "margin": None, "counts": [0, gold, 0]})
            continue
        top = float("nan") if rng.random() < 0.05 else float(margins[0])  # a diverged run: nothing answered
        records.append({"span": [0, 1, "a"], "margin": top, "counts": [int(words[0]), gold, in_gold[0]],
                        "more": [{"margin": float(m), "start": 2 * j, "end": 2 * j + 1, "text": "b", "words": int(w),
                                  "in_gold": g}
                                 for j, (m, w, g) in enumerate(zip(margins[1:], words[1:], in_gold[1:]), 1)]})
    return records


def test_the_fitted_thresholds_beat_one_sentence_and_one_shared_threshold():
    rng = np.random.default_rng(0)
    for _ in range(200):
        records = _random_records(rng, int(rng.integers(1, 8)))

        def f1(null: float, further: float) -> float:
            return evidence_f1([answered(r, null, further)[1] for r in records])["evidence_f1"]

        margins = [m for r in records if r["margin"] is not None
                   for m in (r["margin"], *(x["margin"] for x in r["more"]))]
        cuts = [-m for m in margins] + [-m + 1e-3 for m in margins] + [-1e9, 1e9]
        best_single = max(f1(t, -np.inf) for t in cuts)
        best_shared = max(f1(t, t) for t in cuts)
        assert f1(*fit_span_thresholds(records)) >= max(best_single, best_shared) - 1e-12


def test_a_nan_margin_answers_nothing():
    record = {"span": [0, 1, "a"], "margin": float("nan"), "counts": [1, 1, 1]}
    assert answered(record, 0.0, 0.0) == ([], [0, 1, 0])
