"""The logic of HPO stages A, B, C and refit; stages/hpo.py and stages/refit.py are thin wrappers around it.

A: TPE + Hyperband, one objective, `trial.report` then `should_prune` every epoch; exports the top-K.
B: NSGA-II over (primary up, ECE down by default), stage A's top-K enqueued first, augmentation joins the space.
C: real K-fold cross-validation (folds grouped by post, from splits.json) of the best Pareto configs.
Refit: the CV winner trained on train+val for the epochs CV found best, evaluated once on test.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from psy_agents.augment.policy import Augmenter
from psy_agents.config import HpoConfig, HpoStageConfig, RunConfig, apply_overrides, build, load_params, run_config
from psy_agents.data.examples import load_examples, load_splits, select
from psy_agents.errors import InputError
from psy_agents.hpo.space import base_values, space_for, suggest, validate_space
from psy_agents.hpo.study import (
    fail_stale_trials,
    make_pruner,
    make_sampler,
    make_storage,
    open_study,
    study_name,
    topk,
)
from psy_agents.training.loop import DivergedError, train
from psy_agents.training.tasks import PRIMARY

log = logging.getLogger(__name__)

# A trial that hits one of these is recorded FAILED and the study goes on (impossible combination, divergence, OOM).
TRIAL_ERRORS = (DivergedError, InputError, torch.OutOfMemoryError)
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass
class StageInputs:
    """What every HPO stage of one agent reads: base config sections, the search space, data and splits."""

    agent: str
    sections: dict[str, Any]  # params.yaml model / train / augment: the base every trial overrides
    search: dict[str, Any]
    hpo: HpoConfig
    examples: list[dict]
    splits: dict
    out_dir: Path


def stage_inputs(agent: str, stage: str, params_path: str = "params.yaml") -> StageInputs:
    params = load_params(params_path)
    return StageInputs(
        agent=agent,
        sections={k: params.get(k) or {} for k in ("model", "train", "augment")},
        search=params.get("search") or {},
        hpo=build(HpoConfig, params.get("hpo"), "hpo"),
        examples=load_examples(agent),
        splits=load_splits(),
        out_dir=Path("outputs") / agent / f"hpo_{stage}",
    )


def build_run(inputs: StageInputs, flat: dict[str, Any]) -> RunConfig:
    """Base sections with a trial's sampled values applied; augmentation is on when the trial sampled p_apply."""
    sections = apply_overrides(inputs.sections, flat)
    if "augment.p_apply" in flat:
        sections = apply_overrides(sections, {"augment.enabled": True})
    return run_config(inputs.agent, sections)


def _augmenter(run: RunConfig) -> Augmenter | None:
    if run.augment.enabled and run.augment.p_apply > 0:
        return Augmenter(run.augment, run.train.seed)
    return None


def objective_values(agent: str, metrics: dict, objectives: tuple[str, ...]) -> list[float]:
    """`primary` is the agent's selection metric; any other name is a top-level metric key (e.g. ece)."""
    return [float(metrics[PRIMARY[agent] if name == "primary" else name]) for name in objectives]


def make_objective(inputs: StageInputs, stage: str, cfg: HpoStageConfig, progress: bool):
    space = space_for(inputs.search, inputs.agent, stage)
    base = base_values(build_run(inputs, {}))
    train_ex = select(inputs.examples, inputs.splits["train"])
    val_ex = select(inputs.examples, inputs.splits["val"])
    single = len(cfg.objectives) == 1

    def objective(trial: optuna.Trial) -> float | list[float]:
        run = build_run(inputs, suggest(trial, space, base))

        def report(epoch: int, loss: float, metrics: dict | None) -> None:
            if single and metrics is not None:
                trial.report(objective_values(inputs.agent, metrics, cfg.objectives)[0], epoch)
                if trial.should_prune():
                    trial.set_user_attr("epochs", epoch)
                    raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        result = train(run, train_ex, val_ex, callbacks=(report,), augmenter=_augmenter(run), progress=progress)
        trial.set_user_attr("epochs", result.epochs_run)
        trial.set_user_attr("best_epoch", result.best_epoch)
        values = objective_values(inputs.agent, result.best_metrics, cfg.objectives)
        return values[0] if single else values

    return objective, space


def study_payload(inputs: StageInputs, stage: str, cfg: HpoStageConfig, space: dict) -> dict:
    """What defines a study: a changed space or base config starts a fresh one; n_trials/timeout continue it."""
    settings = {k: v for k, v in vars(cfg).items() if k not in ("n_trials", "timeout")}
    return {"space": space, "stage": settings, "base": inputs.sections, "splits": inputs.splits["train"]}


def run_search(inputs: StageInputs, stage: str, progress: bool = True, enqueue: list[dict] | None = None):
    """Open (or continue) the stage's study and run trials until it holds n_trials finished ones."""
    cfg = getattr(inputs.hpo, stage)
    objective, space = make_objective(inputs, stage, cfg, progress)
    validate_space(space, f"search ({inputs.agent}, stage {stage})")
    name = study_name(inputs.agent, stage, study_payload(inputs, stage, cfg, space))
    study = open_study(
        name,
        make_storage(inputs.hpo, inputs.out_dir),
        make_sampler(stage, cfg),
        make_pruner(cfg) if len(cfg.objectives) == 1 else None,
        cfg.directions,
        metric_names=list(cfg.objectives),
    )
    stale = fail_stale_trials(study)
    if stale:
        log.warning("%s: trials %s of a killed run were marked failed and will be retried", name, stale)
    for seed in enqueue or []:
        enqueue_once(study, seed["params"], seed["source"])
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    start = time.perf_counter()
    if done < cfg.n_trials:
        study.optimize(
            objective,
            n_trials=cfg.n_trials - done,
            timeout=cfg.timeout,
            catch=TRIAL_ERRORS,
            callbacks=[optuna.study.MaxTrialsCallback(cfg.n_trials, states=FINISHED)],
            show_progress_bar=progress,
        )
    return study, time.perf_counter() - start


def enqueue_once(study: optuna.Study, params: dict, source: str) -> None:
    """Enqueue a seed config unless a trial from the same source exists (reruns and several workers)."""
    if any(t.user_attrs.get("source") == source for t in study.get_trials(deepcopy=False)):
        return
    study.enqueue_trial(params, user_attrs={"source": source}, skip_if_exists=False)


def state_counts(study: optuna.Study) -> dict[str, int]:
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {
        "complete": states.count(optuna.trial.TrialState.COMPLETE),
        "pruned": states.count(optuna.trial.TrialState.PRUNED),
        "failed": states.count(optuna.trial.TrialState.FAIL),
    }


def epochs_trained(study: optuna.Study) -> int:
    return sum(int(t.user_attrs.get("epochs", 0)) for t in study.get_trials(deepcopy=False))


def export_a(study: optuna.Study, cfg: HpoStageConfig, seconds: float) -> tuple[list[dict], dict]:
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


def pareto(study: optuna.Study, objectives: tuple[str, ...]) -> list[dict]:
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
    # best primary first: stage C cross-validates the head of this list
    return sorted(front, key=lambda p: (-p["values"][objectives[0]], p["trial"]))


def export_b(study: optuna.Study, cfg: HpoStageConfig, seconds: float) -> tuple[list[dict], dict]:
    front = pareto(study, cfg.objectives)
    if not front:
        raise InputError(f"study {study.study_name}: no trial completed; see the trial errors above")
    metrics = {
        "pareto_size": len(front),
        **{f"best_{name}": front[0]["values"][name] for name in cfg.objectives},
        **state_counts(study),
        "epochs_trained": epochs_trained(study),
        "wall_seconds": round(seconds, 1),
    }
    return front, metrics


def cross_validate(inputs: StageInputs, candidates: list[dict], progress: bool = True) -> dict:
    """Train every candidate on every fold (train part) and score it on the fold's val part."""
    folds = inputs.splits["folds"]
    n_folds = inputs.hpo.c.folds or len(folds)
    if n_folds > len(folds):
        raise InputError(f"hpo.c.folds={n_folds} but splits.json has {len(folds)} folds; lower it or raise split.folds")
    results = []
    for candidate in candidates[: inputs.hpo.c.candidates]:
        run = build_run(inputs, candidate["params"])
        scores, best_epochs = [], []
        for k, fold in enumerate(folds[:n_folds]):
            result = train(
                run, select(inputs.examples, fold["train"]), select(inputs.examples, fold["val"]),
                augmenter=_augmenter(run), progress=progress,
            )
            scores.append(float(result.best_metrics[PRIMARY[inputs.agent]]))
            best_epochs.append(result.best_epoch)
            log.info("candidate trial %s fold %d: %.4f", candidate["trial"], k, scores[-1])
        results.append(
            {
                "trial": candidate["trial"],
                "params": candidate["params"],
                "fold_scores": scores,
                "mean": float(np.mean(scores)),
                "std": float(np.std(scores)),
                "best_epochs": best_epochs,
            }
        )
    winner = min(results, key=lambda r: (-r["mean"], r["std"], r["trial"]))
    return {"metric": PRIMARY[inputs.agent], "folds": n_folds, "candidates": results, "winner": winner["trial"]}


def refit_epochs(winner: dict) -> int:
    """Refit trains without a validation split, so it cannot stop early: it runs the mean best epoch of CV."""
    return max(1, math.ceil(float(np.mean(winner["best_epochs"]))))
