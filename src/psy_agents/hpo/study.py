"""Optuna plumbing of the HPO stages: storage, sampler, pruner, study identity, and what a stage exports.

Storage is always an RDBStorage: a SQLite file inside the stage's outs by default, or a shared database URL
(`hpo.storage`) that workers on other machines join. Both get heartbeats, so a trial whose process died (SIGKILL,
lost machine) stops being RUNNING once its heartbeat is older than the grace period, and is re-queued with the same
parameters. Optuna's JournalStorage records no heartbeats, so its orphaned RUNNING trials would stay forever.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import sqlalchemy
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import StudyDirection
from optuna.trial import TrialState

from psy_agents.config import HpoConfig, StageAConfig, StageBConfig
from psy_agents.errors import InputError


def make_sampler(cfg: StageAConfig | StageBConfig) -> optuna.samplers.BaseSampler:
    """Stage A: TPE; stage B: NSGA-II. Stage C cross-validates fixed candidates and samples nothing."""
    with warnings.catch_warnings():
        # multivariate and group are still flagged experimental; we choose them deliberately
        warnings.simplefilter("ignore", ExperimentalWarning)
        if isinstance(cfg, StageAConfig):
            return optuna.samplers.TPESampler(
                seed=cfg.seed,
                n_startup_trials=cfg.tpe_startup,
                multivariate=cfg.multivariate,
                group=cfg.group,
                constant_liar=cfg.constant_liar,
            )
        if isinstance(cfg, StageBConfig):
            return optuna.samplers.NSGAIISampler(seed=cfg.seed, population_size=cfg.population_size)
    raise ValueError(f"{type(cfg).__name__} has no sampler; only the search stages a and b sample")


def make_pruner(cfg: StageAConfig | StageBConfig) -> optuna.pruners.BasePruner | None:
    """Stage A: Hyperband over epochs (trials report the validation metric once per epoch), or no pruning.
    None for stage B: Optuna cannot prune multi-objective trials."""
    if not isinstance(cfg, StageAConfig):
        return None
    if cfg.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=cfg.min_resource, max_resource=cfg.max_resource, reduction_factor=cfg.reduction_factor
        )
    return optuna.pruners.NopPruner()


def study_name(agent: str, stage: str, payload: dict[str, Any]) -> str:
    """`criteria-a-1a2b3c4d5e`: the hash of what defines the study, so a changed space starts a fresh study
    while a rerun with the same definition continues the old one."""
    digest = hashlib.sha1(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()[:10]
    return f"{agent}-{stage}-{digest}"


def redact(url: str) -> str:
    """The storage URL with any password replaced by ***, safe to log."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "<unparsable storage URL>"


def _database_url(storage: str) -> str:
    """Parse hpo.storage and add the password from PGPASSWORD; a password written in params is refused."""
    try:
        url = sqlalchemy.engine.make_url(storage)
    except sqlalchemy.exc.ArgumentError:
        raise InputError(
            f"params.yaml hpo.storage: {redact(storage)} is not a database URL; use postgresql://user@host/db "
            "or leave it empty for a local file"
        ) from None
    if url.password is not None:
        raise InputError(
            "params.yaml hpo.storage: the URL contains a password; remove it and export PGPASSWORD instead "
            "(params are committed to git)"
        )
    if url.drivername == "postgresql":
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the project ships psycopg2 (pyproject)
        url = url.set(drivername="postgresql+psycopg2")
    if url.drivername.startswith("postgresql") and os.environ.get("PGPASSWORD"):
        url = url.set(password=os.environ["PGPASSWORD"])
    return url.render_as_string(hide_password=False)


def make_storage(hpo: HpoConfig, out_dir: Path) -> RDBStorage:
    """RDB storage with heartbeats and retry of trials whose process died.

    Empty `hpo.storage`: SQLite at out_dir/study.db. SQLite commits are atomic, so a SIGKILL mid-trial leaves the
    file consistent; the 30 s busy timeout lets several processes on one machine share it.
    """
    if hpo.storage:
        url = _database_url(hpo.storage)
        # trials hold their connection idle for whole epochs; a server or NAT may drop it meanwhile
        engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
        shown = redact(url)
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{(out_dir / 'study.db').resolve()}"
        engine_kwargs = {"connect_args": {"timeout": 30}}
        shown = url
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeat_interval is flagged experimental
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=hpo.heartbeat_interval,
                grace_period=hpo.grace_period,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=hpo.max_retry),
            )
    except ImportError:
        raise InputError(f"hpo.storage {shown}: no database driver for it is installed (psycopg2-binary for "
                         "postgresql)") from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        # the driver's message names host and user, never the password; the URL itself is redacted
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise InputError(f"hpo.storage {shown}: cannot open ({reason}); check the URL and PGPASSWORD") from None


def open_study(
    name: str,
    storage: RDBStorage,
    sampler: optuna.samplers.BaseSampler | None,
    pruner: optuna.pruners.BasePruner | None,
    directions: Sequence[str],
    metric_names: Sequence[str] | None = None,
) -> optuna.Study:
    """Create the study, or load it when a previous run or another worker already created it.

    metric_names (the objectives) label the value columns of trials.csv, e.g. values_primary, values_ece.
    """
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        directions=list(directions),
        load_if_exists=True,
    )
    if metric_names is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            study.set_metric_names(list(metric_names))
    return study


def fail_stale_trials(study: optuna.Study) -> list[int]:
    """Mark FAILED the RUNNING trials whose heartbeat is older than the grace period (their process died) and let
    RetryHeartbeatStaleTrialCallback re-queue them; returns their numbers. study.optimize also does this before
    each trial; calling it at stage start makes a rerun's trial counts right before the first new trial."""
    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    if not running:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return sorted(t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if t.number in running)


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
