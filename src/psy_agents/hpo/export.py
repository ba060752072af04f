"""What the search stages export from their study: trials.csv, stage A's top-K, stage B's Pareto front, metrics."""

from __future__ import annotations

from typing import Any

import optuna
import pandas as pd
from optuna.study import StudyDirection
from optuna.trial import TrialState

from psy_agents.config import StageAConfig, StageBConfig
from psy_agents.errors import InputError


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial for trials.csv: number, state, value(s), params_*, user_attrs_*, duration in seconds."""
    frame = study.trials_dataframe(attrs=("number", "state", "value", "params", "user_attrs", "duration"))
    if "duration" in frame:
        frame["duration"] = frame["duration"].dt.total_seconds()
    return frame


def topk(study: optuna.Study, k: int) -> list[dict[str, Any]]:
    """The k best COMPLETE trials of a single-objective study, best first, for topk.json."""
    if len(study.directions) != 1:
        raise ValueError("topk ranks single-objective studies; a multi-objective study exports study.best_trials")
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = sorted(done, key=lambda t: t.value, reverse=study.direction == StudyDirection.MAXIMIZE)[:k]
    return [
        {"rank": rank, "trial": t.number, "value": t.value, "epochs": t.user_attrs.get("epochs"), "params": t.params}
        for rank, t in enumerate(best, start=1)
    ]


def state_counts(study: optuna.Study) -> dict[str, int]:
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {
        "complete": states.count(TrialState.COMPLETE),
        "pruned": states.count(TrialState.PRUNED),
        "failed": states.count(TrialState.FAIL),
    }


def epochs_trained(study: optuna.Study) -> int:
    return sum(int(t.user_attrs.get("epochs", 0)) for t in study.get_trials(deepcopy=False))


def export_a(study: optuna.Study, cfg: StageAConfig, seconds: float) -> tuple[list[dict], dict]:
    ranked = topk(study, cfg.top_k)
    if not ranked:
        raise InputError(f"study {study.study_name}: no trial completed; see the trial errors above")
    metrics = {
        "best_value": ranked[0]["value"],
        "best_trial": ranked[0]["trial"],
        **state_counts(study),
        "epochs_trained": epochs_trained(study),
        "wall_seconds": round(seconds, 1),
    }
    return ranked, metrics


def pareto(study: optuna.Study, objectives: tuple[str, ...], directions: tuple[str, ...]) -> list[dict]:
    front = [
        {
            "trial": t.number,
            "values": dict(zip(objectives, t.values, strict=True)),
            "params": t.params,
            "epochs": t.user_attrs.get("epochs"),
            "source": t.user_attrs.get("source", "nsga2"),
        }
        for t in study.best_trials
    ]
    # best first along the first objective: stage C cross-validates the head of this list
    sign = -1.0 if directions[0] == "maximize" else 1.0
    return sorted(front, key=lambda p: (sign * p["values"][objectives[0]], p["trial"]))


def export_b(study: optuna.Study, cfg: StageBConfig, seconds: float) -> tuple[list[dict], dict]:
    front = pareto(study, cfg.objectives, cfg.directions)
    if not front:
        raise InputError(f"study {study.study_name}: no trial completed; see the trial errors above")
    metrics = {
        "pareto_size": len(front),
        # the trial stage C ranks first, with all its objective values
        **{f"first_{name}": front[0]["values"][name] for name in cfg.objectives},
        **state_counts(study),
        "epochs_trained": epochs_trained(study),
        "wall_seconds": round(seconds, 1),
    }
    return front, metrics
