"""Every agent's `primary` on hand-made records: a perfect predictor scores 1, the trivial ones 0."""

import numpy as np
import pytest

from psy_agents.data.criteria_text import SYMPTOMS
from psy_agents.errors import InputError
from psy_agents.evaluation import scoring
from psy_agents.evaluation.records import Record, criteria_record, span_record
from psy_agents.evaluation.scoring import cross_fitted, fit_thresholds, metrics_of, post_halves, score
from psy_agents.evaluation.spans import evidence_counts
from psy_agents.evaluation.thresholds import Thresholds

POST = "I walked the dog. I cannot sleep at all. I feel worthless."
SLEEP = (POST.index("I cannot"), POST.index(" I feel"))
WORTH = (POST.index("I feel"), len(POST))
FIXED = Thresholds(decision=0.5)


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
    example = {"post_id": "p1", "symptom": "SLEEP_ISSUES", "label": 1, "post": POST,
               "answers": [{"start": s, "end": e, "text": POST[s:e]} for s, e in (SLEEP, WORTH)]}
    record = span_record(example, (5.0, *SLEEP), 0.0, [(5.0, *SLEEP), (4.0, *WORTH)], logit=5.0).to_dict()
    metrics, (prediction,) = score("evidence", [record], FIXED)
    assert [a[:2] for a in prediction["answer"]] == [list(SLEEP), list(WORTH)]
    assert metrics["evidence_f1"] == 1.0 and metrics["exact"] == 1.0 and metrics["f1"] == 1.0


def test_a_record_goes_to_jsonl_with_named_keys_and_comes_back_the_same():
    import json

    example = {"post_id": "p1", "symptom": "SLEEP_ISSUES", "label": 1, "post": POST,
               "answers": [{"start": s, "end": e, "text": POST[s:e]} for s, e in (SLEEP, WORTH)]}
    records = [span_record(example, (5.0, *SLEEP), 0.5, [(5.0, *SLEEP), (4.0, *WORTH)], logit=2.0),
               span_record(example, None, logit=-1.0), span_record({**example, "answers": []}, (1.0, *WORTH)),
               criteria_record({**example, "sentence_id": 3}, 0.25)]
    for record in records:
        row = json.loads(json.dumps(record.to_dict()))
        assert Record.from_dict(row) == Record.from_dict({**row, "prob": 0.5}) == record
    sentence = records[0].to_dict()["more"][0]
    assert sentence == {"margin": 3.5, "start": WORTH[0], "end": WORTH[1], "text": POST[slice(*WORTH)], "words": 3,
                        "in_gold": 3}
    assert not records[2].to_dict()["scored"]  # a label-1 pair without gold evidence: span scores leave it out
    assert set(records[3].to_dict()) == {"post_id", "sentence_id", "symptom", "label", "logit"}


def _halved_records(rates: tuple[float, float]) -> list[dict]:
    """Criteria records of 40 posts x 5 criteria with logits that carry no evidence (tiny noise), labels 1 at one
    rate in the first cross-fitting half of the posts and another in the second."""
    rng = np.random.default_rng(0)
    records = [{"post_id": f"p{post:02d}", "sentence_id": 0, "symptom": symptom, "label": 0,
                "logit": float(1e-3 * rng.normal())} for post in range(40) for symptom in SYMPTOMS[:5]]
    for half, rate in zip(post_halves(records), rates, strict=True):
        for i in half[: round(rate * len(half))]:
            records[i]["label"] = 1
    return records


def test_post_halves_split_the_posts_in_two_whatever_the_record_order():
    records = _halved_records((0.1, 0.6))
    first, second = post_halves(records)
    posts = [{records[i]["post_id"] for i in half} for half in (first, second)]
    assert not posts[0] & posts[1] and len(posts[0]) == len(posts[1]) == 20
    assert sorted(first + second) == list(range(len(records)))
    shuffled = [records[i] for i in np.random.default_rng(1).permutation(len(records))]
    assert [{shuffled[i]["post_id"] for i in half} for half in post_halves(shuffled)] == posts
    with pytest.raises(InputError, match="at least 2"):
        post_halves([r for r in records if r["post_id"] == "p00"])


def test_cross_fitted_predictions_are_decided_by_thresholds_fitted_on_the_other_posts(monkeypatch):
    real_fit, real_decide = scoring.fit_thresholds, scoring.decide
    # each fit carries the posts it was fitted on into the predictions it decides
    monkeypatch.setattr(scoring, "fit_thresholds", lambda agent, records, calibrate: (
        real_fit(agent, records, calibrate), frozenset(r["post_id"] for r in records)))
    monkeypatch.setattr(scoring, "decide", lambda agent, records, fit: [
        {**p, "fitted_on": fit[1]} for p in real_decide(agent, records, fit[0])])
    records = _halved_records((0.1, 0.6))
    _, predictions = cross_fitted("criteria", records, calibrate=True)
    assert [p["post_id"] for p in predictions] == [r["post_id"] for r in records]  # in record order
    assert all(p["post_id"] not in p["fitted_on"] for p in predictions)
    halves = {frozenset(records[i]["post_id"] for i in half) for half in post_halves(records)}
    assert {p["fitted_on"] for p in predictions} == halves


def test_in_sample_platt_ece_is_near_zero_and_the_cross_fitted_ece_is_the_out_of_half_one():
    """Evidence-free logits, label rates 0.1 and 0.6 in the two halves: Platt scaling fitted on all records gives
    every record P = 0.35, the pooled rate, so the in-sample ECE is ~0 by construction; each half decided by the
    other's fit gets the other's rate (0.6 where 0.1 is right, 0.1 where 0.6 is: ECE 0.5)."""
    records = _halved_records((0.1, 0.6))
    in_sample, _ = score("criteria", records, fit_thresholds("criteria", records, calibrate=True))
    assert in_sample["ece"] < 1e-3
    metrics, _ = cross_fitted("criteria", records, calibrate=True)
    first, second = ([records[i] for i in half] for half in post_halves(records))
    out_of_half = (score("criteria", second, fit_thresholds("criteria", first, calibrate=True))[1]
                   + score("criteria", first, fit_thresholds("criteria", second, calibrate=True))[1])
    assert metrics["ece"] == pytest.approx(metrics_of("criteria", out_of_half)["ece"])
    assert metrics["ece"] == pytest.approx(0.5, abs=0.01)
