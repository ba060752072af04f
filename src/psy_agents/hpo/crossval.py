"""Stage C: real K-fold cross-validation (folds grouped by post, from splits.json) of the head of pareto.json, and
the epochs refit trains (it has no validation split to stop on)."""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from psy_agents.augment.policy import augmenter_for
from psy_agents.augment.tfidf import fit_nlpaug_model
from psy_agents.config import RunConfig, run_config
from psy_agents.data.examples import PROCESSED, select
from psy_agents.errors import InputError
from psy_agents.evaluation.scoring import fit_thresholds
from psy_agents.hpo.inputs import StageInputs
from psy_agents.training.loop import DivergedError, train
from psy_agents.training.tasks import needs_calibration

log = logging.getLogger(__name__)


def cross_validate(inputs: StageInputs, candidates: list[dict], progress: bool = True) -> dict:
    """Train every candidate on every fold (train part) and score it on the fold's val part."""
    folds = inputs.splits["folds"]  # split.folds of them, cut by the groundtruth stage
    results, diverged = [], []
    with tempfile.TemporaryDirectory() as tmp:
        fold_tfidf: dict[int, str] = {}  # fold -> its TF-IDF model dir, fitted once for every candidate that augments

        def fold_run(run: RunConfig, k: int) -> RunConfig:
            if not (run.augment and run.augment.enabled):
                return run
            if k not in fold_tfidf:  # data/tfidf saw this fold's val posts: fit one on its train part only
                fold_tfidf[k] = str(Path(tmp) / f"fold{k}")
                fit_nlpaug_model(PROCESSED, folds[k]["train"], inputs.tfidf, fold_tfidf[k])
            return replace(run, augment=replace(run.augment, tfidf_dir=fold_tfidf[k]))

        for candidate in candidates[: inputs.hpo.c.candidates]:
            run = run_config(inputs.agent, inputs.sections, candidate["params"])
            scores, best_epochs, epochs, oof = [], [], [], []
            try:
                for k, fold in enumerate(folds):
                    run_k = fold_run(run, k)
                    result = train(
                        run_k, select(inputs.examples, fold["train"]), select(inputs.examples, fold["val"]),
                        augmenter=augmenter_for(run_k), progress=progress,
                    )
                    scores.append(float(result.best_metrics["primary"]))
                    best_epochs.append(result.best_epoch)
                    epochs.append(result.epochs_run)
                    oof += result.best_predictions
                    log.info("candidate trial %s fold %d: %.4f", candidate["trial"], k, scores[-1])
            except DivergedError as exc:  # a config whose loss goes NaN on a fold cannot be refitted reliably
                log.warning("candidate trial %s diverged on fold %d (%s): left out", candidate["trial"], k, exc)
                diverged.append(candidate["trial"])
                continue
            results.append(
                {
                    "trial": candidate["trial"],
                    "params": candidate["params"],
                    "fold_scores": scores,
                    "mean": float(np.mean(scores)),
                    "std": float(np.std(scores)),
                    "best_epochs": best_epochs,
                    "epochs": epochs,  # trained per fold (early stopping may end a fold before train.epochs)
                    # refit's thresholds: fitted on the pooled out-of-fold predictions, which no fold model trained on
                    "thresholds": fit_thresholds(run.agent, oof, needs_calibration(run)).to_dict(),
                }
            )
    if not results:
        raise InputError(f"stage C: every candidate ({', '.join(map(str, diverged))}) diverged on a fold; raise "
                         "hpo.c.candidates or narrow the learning-rate range in params.yaml search")
    winner = min(results, key=lambda r: (-r["mean"], r["std"], r["trial"]))
    return {"metric": "primary", "folds": len(folds), "candidates": results, "diverged": diverged,
            "winner": winner["trial"]}


def refit_epochs(winner: dict) -> int:
    """Refit trains without a validation split, so it cannot stop early: it runs the mean best epoch of CV."""
    return max(1, math.ceil(float(np.mean(winner["best_epochs"]))))
