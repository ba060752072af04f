"""A post's classification logit pools its windows' logits by log-mean-exp (training.tasks.log_mean_exp): windows
without evidence must not make a long post look likelier to show a symptom, as the maximum over windows does."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logsumexp

from psy_agents.training.tasks import log_mean_exp


def _pool(windows: list[np.ndarray]) -> np.ndarray:
    """log_mean_exp of each post's window logits."""
    owners = np.concatenate([np.full(len(w), i) for i, w in enumerate(windows)])
    return log_mean_exp(np.concatenate(windows), owners, len(windows))


def test_it_is_the_log_mean_exp_of_each_posts_windows_in_any_order():
    rng = np.random.default_rng(0)
    windows = [rng.normal(0, 3, size=k) for k in (1, 2, 5, 9)]
    assert _pool(windows) == pytest.approx([logsumexp(w) - np.log(len(w)) for w in windows])
    owners = np.array([1, 0, 1, 1])  # windows of two posts, interleaved
    assert log_mean_exp(np.array([2.0, -1.0, 0.0, 4.0]), owners, 3) == pytest.approx(
        [-1.0, logsumexp([2.0, 0.0, 4.0]) - np.log(3), -np.inf])  # a post without windows: -inf
    assert np.isfinite(_pool([np.array([800.0, 790.0]), np.array([-800.0])])).all()  # no overflow


def test_identical_window_logits_give_that_logit_for_any_window_count():
    for logit in (-7.5, -1.0, 0.0, 2.25):
        for k in (1, 2, 3, 8, 16, 100):
            assert _pool([np.full(k, logit)])[0] == pytest.approx(logit, abs=1e-12)


def test_appending_windows_below_the_posts_logit_strictly_lowers_it():
    """The maximum stays put when windows below it are added; the pooled logit must drop, since they are windows
    that say less than the post does."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        windows = rng.normal(0, 2, size=rng.integers(1, 6))
        pooled = _pool([windows])[0]
        for _ in range(3):
            windows = np.append(windows, pooled - rng.exponential(2.0) - 1e-3)  # below the post's logit
            lower = _pool([windows])[0]
            assert lower < pooled
            pooled = lower


def test_evidence_free_windows_do_not_raise_the_mean_probability_with_the_window_count():
    """Posts of 1, 8 or 16 windows with iid N(-3, 1) logits: no window holds evidence, so a long post should be no
    likelier than a short one. The log-mean-exp of iid logits tends to the log of their mean odds, -3 + 1/2, so its
    mean probability is bounded by about sigmoid(-2.5) = 0.0759 at any count, against 0.069 for one window (the
    mean of sigmoid(N(-3, 1))): a rise of at most 0.007, so the tolerance is 0.01. The maximum has no such bound:
    its mean probability is 0.19 at 8 windows and 0.24 at 16."""
    rng = np.random.default_rng(0)
    posts = 20_000  # Monte Carlo error of each mean about 0.0003

    def mean_probability(windows: int, pool) -> float:
        logits = rng.normal(-3.0, 1.0, size=(posts, windows))
        return float(expit(pool(logits)).mean())

    def pooled(logits: np.ndarray) -> np.ndarray:
        owners = np.repeat(np.arange(len(logits)), logits.shape[1])
        return log_mean_exp(logits.ravel(), owners, len(logits))

    one = mean_probability(1, pooled)
    assert one == pytest.approx(0.069, abs=0.002)
    for windows in (8, 16):
        assert mean_probability(windows, pooled) <= one + 0.01
        # the assertion is meaningful: the maximum over windows fails it by far
        assert mean_probability(windows, lambda logits: logits.max(axis=1)) > one + 0.1
