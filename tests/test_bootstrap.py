"""The cluster bootstrap over test posts: its primary is `score`'s, bit for bit, for every agent, so the two can
never drift apart; a resample is scoring the resampled posts; draws are seeded and shared by a paired difference."""

from dataclasses import replace

import numpy as np
import pytest
from conftest import defaults

from psy_agents.config import BootstrapConfig
from psy_agents.data.criteria_text import SYMPTOMS
from psy_agents.errors import InputError
from psy_agents.evaluation.bootstrap import (paired_difference, post_counts, post_weights, primaries, primary_interval,
                                             versus_baseline)
from psy_agents.evaluation.records import span_record
from psy_agents.evaluation.scoring import score
from psy_agents.evaluation.spans import rank_sentences
from psy_agents.evaluation.thresholds import Thresholds

AGENTS = ["criteria", "evidence", "share", "joint"]
# random: anything goes; nothing: no decision, no answer; no_positives: no label, no evidence; everything: every
# decision 1, every sentence answered
MODES = ["random", "nothing", "no_positives", "everything"]


def _post(p: int, n: int) -> tuple[str, list[tuple[int, int]]]:
    sentences = [f"Post {p} line {k} says word{k} and more{p}." for k in range(n)]
    text, spans = "", []
    for sentence in sentences:
        text += (" " if text else "")
        spans.append((len(text), len(text) + len(sentence)))
        text += sentence
    return text, spans


def records(agent: str, seed: int, mode: str = "random", n_posts: int = 12) -> list[dict]:
    """Threshold-free records of n_posts posts x the nine criteria (criteria: x each sentence), as the tasks make."""
    rng = np.random.default_rng(seed)
    out = []
    for p in range(n_posts):
        text, spans = _post(p, int(rng.integers(1, 5)))
        for symptom in SYMPTOMS:
            positive = mode in ("random", "nothing", "everything") and rng.random() < 0.3
            if agent == "criteria":
                for j in range(len(spans)):
                    label = int(positive and rng.random() < 0.6)
                    logit = {"nothing": -50.0, "everything": 50.0}.get(mode, float(rng.normal(2 * label - 1, 1.5)))
                    out.append({"post_id": f"p{p}", "sentence_id": j, "symptom": symptom, "label": label,
                                "logit": logit})
                continue
            golds = [spans[i] for i in sorted(rng.choice(len(spans), size=min(len(spans), rng.integers(1, 3)),
                                                         replace=False))] if positive else []
            spanless = positive and rng.random() < 0.1  # a label-1 pair whose sentence was not located
            golds = [] if spanless else golds
            z = rng.normal(size=len(spans)) + np.array([2.0 * (s in golds) for s in spans])
            if mode == "everything":
                z = np.zeros(len(spans))
            null = {"nothing": 1e3, "everything": -1e3}.get(mode, float(rng.normal()))
            ranked = rank_sentences((round(float(v), 6), *s) for v, s in zip(z, spans, strict=True))
            best = ranked[0] if rng.random() > 0.05 else None  # a pair no window has a candidate for
            example = {"post_id": f"p{p}", "symptom": symptom, "label": int(positive), "post": text,
                       "answers": [{"start": s, "end": e, "text": text[s:e]} for s, e in golds]}
            logit = {"nothing": -50.0, "everything": 50.0}.get(mode, float(rng.normal(2 * positive - 1, 1.5)))
            out.append(span_record(example, best, null, ranked if best else [], logit).to_dict())
    return out


def thresholds(seed: int) -> Thresholds:
    rng = np.random.default_rng(seed + 1000)
    return Thresholds(decision=float(rng.uniform(0.3, 0.7)), null=float(rng.normal(0, 0.5)),
                      further=float(rng.normal(-0.5, 0.5)))


def scored(agent: str, seed: int, mode: str = "random", n_posts: int = 12) -> tuple[float, list[dict]]:
    metrics, predictions = score(agent, records(agent, seed, mode, n_posts), thresholds(seed))
    return metrics["primary"], predictions


def unit_primary(agent: str, predictions: list[dict]) -> float:
    posts, counts = post_counts(agent, predictions)
    return float(primaries(agent, np.ones((1, len(posts)), dtype=np.int64) @ counts)[0])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("agent", AGENTS)
def test_unit_weights_give_scores_primary_exactly(agent, mode):
    values = []
    for seed in range(8):
        for n_posts in (1, 3, 12):
            primary, predictions = scored(agent, seed, mode, n_posts)
            assert unit_primary(agent, predictions) == primary, (seed, n_posts)  # exact, not approx
            values.append(primary)
    if mode in ("nothing", "no_positives"):  # the zero-division cases: no decision, no answer, no label
        assert set(values) == {0.0}
    else:
        assert len(set(values)) > 16  # the seeds reach many different values


@pytest.mark.parametrize("agent", AGENTS)
def test_a_resample_scores_as_the_resampled_posts_do(agent):
    """A draw's primary is `score`'s on the records of the drawn posts, each repeated as often as it is drawn."""
    recs, cuts = records(agent, 3), thresholds(3)
    posts, counts = post_counts(agent, score(agent, recs, cuts)[1])
    weights = post_weights(len(posts), 20, seed=7)
    for w, bootstrapped in zip(weights, primaries(agent, weights @ counts), strict=True):
        resampled = [{**r, "post_id": f"{r['post_id']}#{k}"} for i, post in enumerate(posts) for k in range(w[i])
                     for r in recs if r["post_id"] == post]
        assert bootstrapped == score(agent, resampled, cuts)[0]["primary"]


def test_draws_take_every_post_count_with_replacement_seeded():
    weights = post_weights(80, 1000, seed=42)
    assert weights.shape == (1000, 80) and (weights.sum(axis=1) == 80).all()
    assert 0.6 < (weights > 0).mean() < 0.66  # a post is in a draw with probability 1 - (1 - 1/80)^80 = 0.634
    assert (post_weights(80, 1000, seed=42) == weights).all() and (post_weights(80, 1000, seed=1) != weights).any()


@pytest.mark.parametrize("agent", AGENTS)
def test_interval_brackets_the_primary_and_depends_only_on_the_seed_and_the_posts(agent):
    primary, predictions = scored(agent, 5, n_posts=40)
    low, high = primary_interval(agent, predictions, 1000, 42, 0.95)
    assert low < primary < high and high - low < 0.5
    assert primary_interval(agent, predictions[::-1], 1000, 42, 0.95) == (low, high)  # record order is no input
    assert primary_interval(agent, predictions, 1000, 7, 0.95) != (low, high)
    narrow = primary_interval(agent, predictions, 1000, 42, 0.5)
    assert low < narrow[0] < narrow[1] < high


@pytest.mark.parametrize("agent", AGENTS)
def test_paired_difference_uses_the_same_draws_for_both(agent):
    primary_a, a = scored(agent, 11, n_posts=30)
    metrics_b, b = score(agent, records(agent, 11, n_posts=30), replace(thresholds(11), decision=0.9, null=-1.0))
    same = paired_difference(agent, a, a, 1000, 42, 0.95)
    assert same == {"diff": 0.0, "low": 0.0, "high": 0.0}  # independent draws would give a wide interval
    diff = paired_difference(agent, a, b, 1000, 42, 0.95)
    assert diff["diff"] == primary_a - metrics_b["primary"] != 0
    posts, counts_a = post_counts(agent, a)
    weights = post_weights(len(posts), 1000, 42)
    each = primaries(agent, weights @ counts_a) - primaries(agent, weights @ post_counts(agent, b)[1])
    assert (diff["low"], diff["high"]) == tuple(np.quantile(each, [(1 - 0.95) / 2, (1 + 0.95) / 2]))
    assert versus_baseline(agent, a, b, 1000, 42, 0.95) == {
        "low": primary_interval(agent, a, 1000, 42, 0.95)[0], "high": primary_interval(agent, a, 1000, 42, 0.95)[1],
        "vs_tfidf": diff["diff"], "vs_low": diff["low"], "vs_high": diff["high"]}


def test_paired_difference_refuses_predictions_of_other_posts():
    _, a = scored("share", 1, n_posts=5)
    _, b = scored("share", 1, n_posts=6)
    with pytest.raises(InputError, match="cover different posts"):
        paired_difference("share", a, b, 100, 42, 0.95)


def test_bootstrap_params():
    assert defaults(BootstrapConfig) == BootstrapConfig(draws=1000, seed=42, level=0.95)
    for bad in ({"draws": 0}, {"level": 1.0}, {"level": 0.0}):
        with pytest.raises(InputError, match="bootstrap: draws="):
            defaults(BootstrapConfig, **bad)
