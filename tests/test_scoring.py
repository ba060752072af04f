"""Every agent's `primary` on hand-made records: a perfect predictor scores 1, the trivial ones 0."""

import pytest

from psy_agents.evaluation.scoring import fit_thresholds, score
from psy_agents.evaluation.spans import evidence_counts, further_sentences

POST = "I walked the dog. I cannot sleep at all. I feel worthless."
SLEEP = (POST.index("I cannot"), POST.index(" I feel"))
WORTH = (POST.index("I feel"), len(POST))
FIXED = {"decision": 0.5, "null": 0.0, "further": 0.0, "calib_scale": 1.0, "calib_bias": 0.0}


def span_records(predict: str) -> list[dict]:
    """Two posts x three criteria; `predict`: perfect, no_answer (right symptoms, no span) or nothing."""
    gold = {("p1", "SLEEP_ISSUES"): [SLEEP], ("p1", "WORTHLESSNESS"): [WORTH], ("p2", "WORTHLESSNESS"): [WORTH]}
    records = []
    for post in ("p1", "p2"):
        for symptom in ("SLEEP_ISSUES", "WORTHLESSNESS", "FATIGUE"):
            spans = gold.get((post, symptom), [])
            best = spans[0] if spans else (0, 3)  # where there is no evidence the best span is a wrong one
            answer = predict == "perfect"
            records.append({
                "post_id": post, "symptom": symptom, "label": int(bool(spans)), "scored": True,
                "gold": [[s, e, POST[s:e]] for s, e in spans], "span": [*best, POST[best[0]:best[1]]],
                "margin": (5.0 if spans else -5.0) if answer else -5.0,
                "counts": evidence_counts(POST, best, spans),
                "logit": (5.0 if spans else -5.0) if predict != "nothing" else -5.0,
            })
    return records


@pytest.mark.parametrize("agent", ["evidence", "share", "joint"])
def test_span_primaries_perfect_is_one_no_answer_and_nothing_are_zero(agent):
    assert score(agent, span_records("perfect"), FIXED)[0]["primary"] == 1.0
    no_answer, _ = score(agent, span_records("no_answer"), FIXED)
    assert no_answer["evidence_f1"] == 0.0
    # SQuAD v2 F1 rewards answering nothing on the pairs without evidence; the primary does not
    assert no_answer["f1"] == pytest.approx(0.5)
    assert no_answer["primary"] == (0.0 if agent == "evidence" else 0.5)  # share/joint: symptoms right, no evidence
    assert score(agent, span_records("nothing"), FIXED)[0]["primary"] == 0.0


def test_criteria_primary_perfect_is_one_and_majority_is_zero():
    records = [{"post_id": "p", "sentence_id": i, "symptom": s, "label": y, "logit": 5.0 if y else -5.0}
               for i, (s, y) in enumerate([("FATIGUE", 1), ("FATIGUE", 0), ("ANHEDONIA", 1), ("ANHEDONIA", 0)])]
    assert score("criteria", records, FIXED)[0]["primary"] == 1.0
    majority = [{**r, "logit": -5.0} for r in records]
    metrics, _ = score("criteria", majority, FIXED)
    assert metrics["primary"] == 0.0 and metrics["macro_f1"] == pytest.approx(1 / 3)  # the old primary: not 0


def test_fitted_thresholds_recover_a_perfect_span_predictor_with_shifted_scores():
    shifted = [{**r, "margin": r["margin"] - 7.0, "logit": r["logit"] - 7.0} for r in span_records("perfect")]
    assert score("share", shifted, FIXED)[0]["primary"] == 0.0  # every score below the default cuts
    thresholds = fit_thresholds("share", shifted, calibrate=False)
    assert score("share", shifted, thresholds)[0]["primary"] == 1.0


def test_an_answer_of_every_gold_sentence_is_an_exact_squad_match():
    record = {"post_id": "p1", "symptom": "SLEEP_ISSUES", "label": 1, "scored": True, "logit": 5.0,
              "gold": [[*SLEEP, POST[slice(*SLEEP)]], [*WORTH, POST[slice(*WORTH)]]],
              "span": [*SLEEP, POST[slice(*SLEEP)]], "margin": 5.0, "counts": evidence_counts(POST, SLEEP, [SLEEP, WORTH]),
              "more": further_sentences(POST, [(5.0, *SLEEP), (4.0, *WORTH)], 0.0, [SLEEP, WORTH])}
    metrics, (prediction,) = score("evidence", [record], FIXED)
    assert [a[:2] for a in prediction["answer"]] == [list(SLEEP), list(WORTH)]
    assert metrics["evidence_f1"] == 1.0 and metrics["exact"] == 1.0 and metrics["f1"] == 1.0
