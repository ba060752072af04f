"""What the search stages export from their study: trials.csv, stage A's top-K, stage B's Pareto front, metrics."""

from __future__ import annotations

from typing import Any

import optuna
import pandas as pd
from optuna.study import StudyDirection
from optuna.trial import TrialState

from psy_agents.config import StageAConfig, StageBConfig
from psy_agents.errors import InputError


# What a trial records of its training (user attrs, exported with stage A's top-K), so that a later trial of the
# same run (hpo/search.py run_digest) can take its result over instead of training it again
TRAINED = ("run_digest", "metrics", "epochs", "best_epoch")


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial for trials.csv: number, state, value(s), params_*, user_attrs_*, duration in seconds. The
    `metrics` user attr (a dict) becomes one column per metric, metrics_<name>."""
    frame = study.trials_dataframe(attrs=("number", "state", "value", "params", "user_attrs", "duration"))
    if "duration" in frame:
        frame["duration"] = frame["duration"].dt.total_seconds()
    if "user_attrs_metrics" in frame:
        metrics = pd.DataFrame([m if isinstance(m, dict) else {} for m in frame.pop("user_attrs_metrics")],
                               index=frame.index)
        frame = frame.join(metrics.add_prefix("metrics_"))
    return frame


def topk(study: optuna.Study, k: int) -> list[dict[str, Any]]:
    """The k best COMPLETE trials of a single-objective study, best first, for topk.json."""
    if len(study.directions) != 1:
        raise ValueError("topk ranks single-objective studies; a multi-objective study exports study.best_trials")
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = sorted(done, key=lambda t: t.value, reverse=study.direction == StudyDirection.MAXIMIZE)[:k]
    return [
        {"rank": rank, "trial": t.number, "value": t.value, "epochs": t.user_attrs.get("epochs"), "params": t.params,
         **{key: t.user_attrs[key] for key in TRAINED if key in t.user_attrs}}
        for rank, t in enumerate(best, start=1)
    ]


def state_counts(study: optuna.Study) -> dict[str, int]:
    """Trials by state, named as Optuna names the states (the metrics' counts; stage C counts its cross-validated
    candidates as complete)."""
    states = [t.state for t in study.get_trials(deepcopy=False)]
    counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return {state.name.lower(): states.count(state) for state in counted}


def epochs_trained(study: optuna.Study) -> int:
    """Epochs the study's trials trained (a pruned trial's until its rung); a reused trial trained none."""
    return sum(int(t.user_attrs.get("epochs", 0)) for t in study.get_trials(deepcopy=False)
               if not t.user_attrs.get("reused"))


def export_a(study: optuna.Study, cfg: StageAConfig, seconds: float) -> tuple[list[dict], dict]:
    """Top-K and the metrics: the best value under its objective's name (primary by default, the column every
    metrics file's primary shares), trials by state, epochs trained and seconds."""
    ranked = topk(study, cfg.top_k)
    if not ranked:
        raise InputError(f"study {study.study_name}: no trial completed; see the trial errors above")
    metrics = {
        cfg.objectives[0]: ranked[0]["value"],
        **state_counts(study),
        "epochs": epochs_trained(study),
        "seconds": round(seconds, 1),
    }
    return ranked, metrics


def pareto(study: optuna.Study, objectives: tuple[str, ...], directions: tuple[str, ...]) -> list[dict]:
    """Every complete trial, the Pareto front first (`pareto: true`), each part best first along the first
    objective: stage C cross-validates the head of this list, so it gets its `candidates` even when the front holds
    fewer (a front of one is common with a handful of trials)."""
    front = {t.number for t in study.best_trials}
    sign = -1.0 if directions[0] == "maximize" else 1.0
    rows = [
        {
            "trial": t.number,
            "pareto": t.number in front,
            "values": dict(zip(objectives, t.values, strict=True)),
            "params": t.params,
            "epochs": t.user_attrs.get("epochs"),
            "source": t.user_attrs.get("source", "nsga2"),
        }
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ]
    return sorted(rows, key=lambda p: (not p["pareto"], sign * p["values"][objectives[0]], p["trial"]))


def export_b(study: optuna.Study, cfg: StageBConfig, seconds: float) -> tuple[list[dict], dict]:
    front = pareto(study, cfg.objectives, cfg.directions)
    if not front:
        raise InputError(f"study {study.study_name}: no trial completed; see the trial errors above")
    metrics = {
        **front[0]["values"],  # the trial stage C ranks first, with all its objective values (primary, ece)
        **state_counts(study),
        "epochs": epochs_trained(study),
        "seconds": round(seconds, 1),
    }
    return front, metrics
