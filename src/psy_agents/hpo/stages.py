"""The logic of HPO stages A, B, C and refit; stages/hpo.py and stages/refit.py are thin wrappers around it.

A: TPE + Hyperband, one objective, every trial toward hpo.a.max_resource epochs, `trial.report` then
`should_prune` every epoch; exports the top-K.
B: NSGA-II over (primary up, ECE down by default), stage A's top-K enqueued first, augmentation joins the space.
C: real K-fold cross-validation (folds grouped by post, from splits.json) of the best Pareto configs.
Refit: the CV winner trained on train+val for the epochs CV found best, evaluated once on test.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import sqlalchemy
import torch
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from tqdm.auto import tqdm

from psy_agents.augment.policy import augmenter_for
from psy_agents.augment.tfidf import fit_nlpaug_model
from psy_agents.config import (
    HpoConfig,
    RunConfig,
    SearchConfig,
    StageAConfig,
    StageBConfig,
    TfidfConfig,
    apply_overrides,
    build,
    load_params,
    run_config,
)
from psy_agents.data.examples import PROCESSED, load_examples, load_splits, select
from psy_agents.data.splits import post_subset
from psy_agents.errors import InputError
from psy_agents.evaluation.scoring import SCALAR_METRICS, fit_thresholds
from psy_agents.hpo.space import base_values, defaults_in_space, space_for, suggest, validate_space
from psy_agents.hpo.study import (
    _database_url,
    fail_stale_trials,
    make_pruner,
    make_sampler,
    make_storage,
    open_study,
    study_name,
    topk,
)
from psy_agents.training.loop import DivergedError, train
from psy_agents.training.tasks import needs_calibration

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
    tfidf: TfidfConfig  # stage C refits nlpaug's TF-IDF model on each fold's train part
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
        tfidf=build(TfidfConfig, params.get("tfidf"), "tfidf"),
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


def objective_values(agent: str, metrics: dict, objectives: tuple[str, ...]) -> list[float]:
    """Top-level metric keys: `primary` (every agent's selection metric), ece, ..."""
    return [float(metrics[name]) for name in objectives]


def stage_fixed(cfg: SearchConfig) -> dict[str, Any]:
    """What a stage sets in every trial outside its space (space.STAGE_A_FIXED). Stage A: hpo.a.max_resource
    epochs with early stopping off. One horizon is one LR schedule (warm-up and decay over the same epochs), so
    Hyperband's rungs compare trials at the same point of their schedules, and only the pruner stops a trial."""
    if not isinstance(cfg, StageAConfig):
        return {}
    return {"train.epochs": cfg.max_resource, "train.patience": 0}


def default_seed(inputs: StageInputs, stage: str) -> dict:
    """params.yaml's own config as a seed trial: a short search then never ends below the defaults it started from.
    It runs through the stage's objective, so in stage A it trains the same horizon as every other trial."""
    space = space_for(inputs.search, inputs.agent, stage)
    base = base_values(build_run(inputs, stage_fixed(getattr(inputs.hpo, stage))))
    return {"params": defaults_in_space(space, base), "source": "params.yaml"}


def seeds_from_a(inputs: StageInputs, ranked: list[dict]) -> list[dict]:
    """Stage A's top-K (topk.json) as stage B's first trials. Each keeps the horizon stage A scored it at (its
    `epochs`, hpo.a.max_resource: a completed stage A trial runs to the end) where stage B's space can take it, so
    the seed is the config stage A ranked, LR schedule included; elsewhere stage B's sampler draws its epochs."""
    space = space_for(inputs.search, inputs.agent, "b")
    return [{"params": {**r["params"], **defaults_in_space(space, {"train.epochs": r["epochs"]})},
             "source": f"hpo_a:trial{r['trial']}"} for r in ranked]


def check_objectives(agent: str, stage: str, cfg: SearchConfig) -> None:
    """Before any trial trains: every objective is a metric the agent reports (directions: HpoConfig checks)."""
    known = SCALAR_METRICS[agent]
    unknown = [name for name in cfg.objectives if name not in known]
    if unknown:
        raise InputError(f"params.yaml hpo.{stage}.objectives: {', '.join(unknown)} is not a metric of {agent}; "
                         f"choose from {', '.join(dict.fromkeys(known))}")


def search_posts(inputs: StageInputs, cfg: SearchConfig) -> list[str]:
    """The train posts a search stage's trials train on: all of them, or the cfg.train_fraction share (the same
    for every trial and worker, so trials compare on the same data)."""
    return post_subset(inputs.examples, inputs.splits["train"], cfg.train_fraction, cfg.seed)


def make_objective(inputs: StageInputs, stage: str, cfg: SearchConfig, progress: bool):
    check_objectives(inputs.agent, stage, cfg)
    space = space_for(inputs.search, inputs.agent, stage)
    fixed = stage_fixed(cfg)
    base = base_values(build_run(inputs, fixed))
    train_ex = select(inputs.examples, search_posts(inputs, cfg))
    val_ex = select(inputs.examples, inputs.splits["val"])
    single = len(cfg.objectives) == 1

    def objective(trial: optuna.Trial) -> float | list[float]:
        run = build_run(inputs, {**suggest(trial, space, base), **fixed})

        def report(epoch: int, loss: float, metrics: dict | None) -> None:
            if single and metrics is not None:
                trial.report(objective_values(inputs.agent, metrics, cfg.objectives)[0], epoch)
                if trial.should_prune():
                    trial.set_user_attr("epochs", epoch)
                    raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        result = train(run, train_ex, val_ex, callbacks=(report,), augmenter=augmenter_for(run), progress=progress)
        trial.set_user_attr("epochs", result.epochs_run)
        trial.set_user_attr("best_epoch", result.best_epoch)
        values = objective_values(inputs.agent, result.best_metrics, cfg.objectives)
        return values[0] if single else values

    return objective, space


def study_payload(inputs: StageInputs, stage: str, cfg: SearchConfig, space: dict) -> dict:
    """What defines a study: a changed space or base config starts a fresh one; n_trials/timeout continue it."""
    settings = {k: v for k, v in vars(cfg).items() if k not in ("n_trials", "timeout")}
    # A changed corpus or split (new groundtruth) must not continue a study scored on the old data.
    data = hashlib.sha1(json.dumps([inputs.examples, inputs.splits], sort_keys=True).encode()).hexdigest()
    return {"space": space, "stage": settings, "base": inputs.sections, "data": data}


def _stage_study(inputs: StageInputs, stage: str, progress: bool):
    """The stage's settings, objective and study name: computed the same way by the DVC stage and every worker."""
    cfg = getattr(inputs.hpo, stage)
    objective, space = make_objective(inputs, stage, cfg, progress)
    validate_space(space, f"search ({inputs.agent}, stage {stage})")
    return cfg, objective, study_name(inputs.agent, stage, study_payload(inputs, stage, cfg, space))


def run_search(inputs: StageInputs, stage: str, progress: bool = True, enqueue: list[dict] | None = None):
    """Open (or continue) the stage's study and run trials until it holds n_trials finished ones.

    The DVC stage is one worker among any started with `psy-agents worker` (shared `hpo.storage`): it alone
    creates the study, fails the trials of dead processes and enqueues the seeds (under the claim lock), then
    marks the study open for workers. It returns once n_trials trials are finished, counting every worker's.
    """
    cfg, objective, name = _stage_study(inputs, stage, progress)
    storage = shared_storage(inputs.hpo, inputs.out_dir)
    lock = ClaimLock(storage, name)
    with lock:
        study = open_study(
            name,
            storage,
            make_sampler(cfg),
            make_pruner(cfg),
            cfg.directions,
            metric_names=list(cfg.objectives),
        )
        stale = fail_stale_trials(study)
        if stale:
            log.warning("%s: trials %s of a killed run were marked failed and will be retried", name, stale)
        for seed in enqueue or []:
            enqueue_once(study, seed["params"], seed["source"])
        if not study.user_attrs.get(OPEN_ATTR):
            study.set_user_attr(OPEN_ATTR, True)
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    start = time.perf_counter()
    if done < cfg.n_trials:
        log.info("%s: %d of %d trials finished; running the rest (workers may join)", name, done, cfg.n_trials)
        search_loop(study, objective, cfg, lock, budget=cfg.n_trials - done, poll=_poll(inputs.hpo), stage=True,
                    grace=inputs.hpo.grace_period)
    return study, time.perf_counter() - start


def join_search(
    inputs: StageInputs, stage: str, progress: bool = True, wait: float | None = None
) -> tuple[optuna.Study, int]:
    """`psy-agents worker`: wait until the DVC stage has opened the study, then claim and run its trials until
    it holds n_trials finished ones. Workers never create the study nor enqueue anything. Returns the study and
    the number of trials this worker ran."""
    if stage not in ("a", "b"):
        raise InputError(f"stage {stage}: only the search stages a and b have a shared study to join; stage C "
                         "cross-validates in the DVC stage process")
    cfg, objective, name = _stage_study(inputs, stage, progress)
    storage = shared_storage(inputs.hpo, inputs.out_dir)
    # every worker samples with its own seed: the stage's seed would repeat the stage's own random trials
    worker_cfg = replace(cfg, seed=int.from_bytes(os.urandom(4), "big") >> 1)
    sampler = make_sampler(worker_cfg)
    pruner = make_pruner(cfg)
    poll = _poll(inputs.hpo)
    deadline = None if wait is None else time.monotonic() + wait
    told = False
    while True:
        try:
            study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
            if study.user_attrs.get(OPEN_ATTR):
                break
        except KeyError:
            pass
        if deadline is not None and time.monotonic() >= deadline:
            raise InputError(f"study {name} was not opened within {wait:g} s: start the stage (`dvc repro` with "
                             "the same params.yaml and hpo.storage), or compare its study name with this one")
        if not told:
            log.info("waiting for the DVC stage to open study %s (sampler seed %d)", name, worker_cfg.seed)
            told = True
        time.sleep(poll)
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    log.info("joined study %s: %d of %d trials finished", name, done, cfg.n_trials)
    ran = 0
    if done < cfg.n_trials:
        ran = search_loop(study, objective, cfg, ClaimLock(storage, name), budget=cfg.n_trials - done, poll=poll,
                          stage=False, grace=inputs.hpo.grace_period)
    return study, ran


def shared_storage(hpo: HpoConfig, out_dir: Path) -> RDBStorage:
    """make_storage, with PostgreSQL's first-time schema creation serialised: Optuna creates its tables on first
    connect, and several processes doing that at once on an empty database collide (duplicate pg_type rows)."""
    try:
        backend = sqlalchemy.engine.make_url(hpo.storage).get_backend_name() if hpo.storage else ""
    except sqlalchemy.exc.ArgumentError:
        backend = ""  # make_storage says what is wrong with it
    if backend != "postgresql":
        return make_storage(hpo, out_dir)
    engine = sqlalchemy.create_engine(_database_url(hpo.storage), poolclass=sqlalchemy.pool.NullPool)
    try:
        try:
            conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sqlalchemy.exc.SQLAlchemyError:
            return make_storage(hpo, out_dir)  # says why it cannot connect, without the password
        with conn, pg_advisory_lock(conn, SCHEMA_LOCK):
            return make_storage(hpo, out_dir)
    finally:
        engine.dispose()


@contextlib.contextmanager
def pg_advisory_lock(conn: sqlalchemy.Connection, key: int):
    """A PostgreSQL session advisory lock: held until released, or until the server sees the process die."""
    conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
    try:
        yield conn
    finally:
        conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


SCHEMA_LOCK = 0x7073792D6167  # advisory lock key for the schema creation ("psy-ag")
OPEN_ATTR = "opened_by_stage"  # study user attr: the DVC stage created the study and enqueued its seeds


def _poll(hpo: HpoConfig) -> float:
    """Seconds between looks at the study while other processes' trials run (stale trials show up this fast)."""
    return float(max(0.5, min(5.0, hpo.heartbeat_interval)))


def search_loop(study: optuna.Study, objective, cfg: SearchConfig, lock: ClaimLock, budget: int, poll: float,
                stage: bool, grace: float) -> int:
    """Claim and run one trial at a time until the study holds cfg.n_trials finished trials (all processes).

    Under the claim lock: fail the stale trials of dead processes (their retries become WAITING), count the
    finished and running trials, and start a trial only while finished + running < n_trials; the lock is released
    as soon as the new trial is RUNNING in the storage, so the next process counts it. Nobody overshoots
    n_trials, and a trial that fails or dies frees its place. This process runs at most `budget` trials and
    starts none after cfg.timeout seconds. The stage (stage=True) then still waits for the other processes'
    running trials (it exports next); a worker leaves. Returns the number of trials this process ran.
    """
    start = time.monotonic()
    ran = 0
    waiting_logged = False
    bar = tqdm(total=cfg.n_trials, desc=f"{study.study_name} trials", unit="trial")
    silent: dict[int, float] = {}  # RUNNING trials that never wrote a heartbeat -> when this process first saw them

    def claimed(trial: optuna.Trial):
        lock.release()  # the trial is RUNNING in the storage now
        return objective(trial)

    while True:
        out_of_time = cfg.timeout is not None and time.monotonic() - start >= cfg.timeout
        may_claim = ran < budget and not out_of_time
        with lock:
            stale = fail_stale_trials(study) + fail_silent_trials(study, lock.engine, silent, grace)
            if stale:
                log.warning("%s: trials %s lost their process (no heartbeat); failed and re-queued",
                            study.study_name, stale)
            finished = len(study.get_trials(deepcopy=False, states=FINISHED))
            running = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))
            _show_progress(bar, study, finished)
            if finished >= cfg.n_trials:
                break
            if may_claim and finished + running < cfg.n_trials:
                study.optimize(claimed, n_trials=1, catch=TRIAL_ERRORS)
                ran += 1
                continue
        if not may_claim and (not stage or out_of_time or running == 0):
            break
        if not waiting_logged:
            log.info("%s: %d finished, %d running elsewhere; waiting for them", study.study_name, finished, running)
            waiting_logged = True
        time.sleep(poll)
    bar.close()
    return ran


def _show_progress(bar: tqdm, study: optuna.Study, finished: int) -> None:
    """Trials finished (all processes) and the best value so far (Pareto-front size for several objectives)."""
    bar.n = finished
    if len(study.directions) > 1:
        bar.set_postfix(pareto=len(study.best_trials))
    else:
        try:
            bar.set_postfix(best=f"{study.best_value:.4f}")
        except ValueError:  # no trial completed yet
            pass
    bar.refresh()


def fail_silent_trials(
    study: optuna.Study, engine: sqlalchemy.engine.Engine, silent: dict[int, float], grace: float
) -> list[int]:
    """Fail (and re-queue, like a stale trial) the RUNNING trials that never wrote a heartbeat for `grace` seconds.

    Optuna creates a trial RUNNING, samples its relative params, and only then starts its heartbeat thread: a
    process killed in between leaves a RUNNING trial without any heartbeat, which Optuna never counts as stale. One
    machine used to ignore it; counted as running here, it would hold its place forever. `silent` (kept by the
    caller across calls) holds when this process first saw each of them: our own clock, so other machines' clocks
    and time zones play no part. Returns the numbers of the trials failed.
    """
    storage = study._storage
    running = {t._trial_id: t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    for trial_id in list(silent):
        if trial_id not in running:
            del silent[trial_id]
    if not running:
        return []
    query = sqlalchemy.text("SELECT trial_id FROM trial_heartbeats WHERE trial_id IN :ids").bindparams(
        sqlalchemy.bindparam("ids", expanding=True))
    with engine.connect() as conn:  # Optuna's own table of the last heartbeat of each trial
        beating = {row[0] for row in conn.execute(query, {"ids": list(running)})}
    now, failed = time.monotonic(), []
    for trial_id in running.keys() - beating:
        if now - silent.setdefault(trial_id, now) < grace:
            continue
        try:
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed.append(trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another process got there first
    retry = storage.get_heartbeat_stale_trial_callback()
    for trial_id in failed:
        if retry is not None:
            retry(study, copy.deepcopy(storage.get_trial(trial_id)))
    return sorted(running[t] for t in failed)


class ClaimLock:
    """Serialises "count the trials, then start one" (and the stage's seeding) across every process of a study.

    PostgreSQL: a session advisory lock keyed by the study name (released by the server if the process dies).
    SQLite (one machine): an flock on a file in the temp dir. Other databases: no lock (MaxTrials-like best effort).
    Re-entrant release: the objective releases it once its trial is RUNNING, `with` releases it in any case.
    """

    def __init__(self, storage: RDBStorage, name: str) -> None:
        self.engine = storage.engine
        self.dialect = self.engine.dialect.name
        digest = hashlib.sha1(f"{self.engine.url.render_as_string(hide_password=True)}|{name}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self.path = Path(tempfile.gettempdir()) / f"psy-agents-study-{digest.hex()[:16]}.lock"
        self._held: Any = None

    def acquire(self) -> None:
        held = contextlib.ExitStack()
        if self.dialect == "postgresql":
            conn = held.enter_context(self.engine.connect().execution_options(isolation_level="AUTOCOMMIT"))
            held.enter_context(pg_advisory_lock(conn, self.key))
        elif self.dialect == "sqlite":
            handle = held.enter_context(self.path.open("a"))
            fcntl.flock(handle, fcntl.LOCK_EX)
            held.callback(fcntl.flock, handle, fcntl.LOCK_UN)
        self._held = held

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def __enter__(self) -> ClaimLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def snapshot_study(study: optuna.Study, path: Path) -> None:
    """With a shared database (hpo.storage) the study lives on the server; the stage's study.db out gets a copy,
    so the DVC out is the same complete record of the study as on one machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path.resolve()}"
    try:
        optuna.delete_study(study_name=study.study_name, storage=url)
    except KeyError:
        pass
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created": it is a copy
    try:
        optuna.copy_study(from_study_name=study.study_name, from_storage=study._storage, to_storage=url)
    finally:
        optuna.logging.set_verbosity(verbosity)
    log.info("%s: copied to %s", study.study_name, path)


def enqueue_once(study: optuna.Study, params: dict, source: str) -> None:
    """Enqueue a seed config unless a trial from the same source exists (reruns, a retried seed keeps its source).

    Only the DVC stage enqueues, under the claim lock and before it marks the study open, so a seed is added
    once whatever the number of workers (they wait for the open mark and never enqueue)."""
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


def cross_validate(inputs: StageInputs, candidates: list[dict], progress: bool = True) -> dict:
    """Train every candidate on every fold (train part) and score it on the fold's val part."""
    folds = inputs.splits["folds"]
    n_folds = inputs.hpo.c.folds or len(folds)
    if n_folds > len(folds):
        raise InputError(f"hpo.c.folds={n_folds} but splits.json has {len(folds)} folds; lower it or raise split.folds")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        fold_tfidf: dict[int, str] = {}  # fold -> its TF-IDF model dir, fitted once for every candidate that augments

        def fold_run(run: RunConfig, k: int) -> RunConfig:
            if not run.augment.enabled:
                return run
            if k not in fold_tfidf:  # data/tfidf saw this fold's val posts: fit one on its train part only
                fold_tfidf[k] = str(Path(tmp) / f"fold{k}")
                fit_nlpaug_model(PROCESSED, folds[k]["train"], inputs.tfidf, fold_tfidf[k])
            return replace(run, augment=replace(run.augment, tfidf_dir=fold_tfidf[k]))

        for candidate in candidates[: inputs.hpo.c.candidates]:
            run = build_run(inputs, candidate["params"])
            scores, best_epochs, oof = [], [], []
            for k, fold in enumerate(folds[:n_folds]):
                run_k = fold_run(run, k)
                result = train(
                    run_k, select(inputs.examples, fold["train"]), select(inputs.examples, fold["val"]),
                    augmenter=augmenter_for(run_k), progress=progress,
                )
                scores.append(float(result.best_metrics["primary"]))
                best_epochs.append(result.best_epoch)
                oof += result.best_predictions
                log.info("candidate trial %s fold %d: %.4f", candidate["trial"], k, scores[-1])
            results.append(
                {
                    "trial": candidate["trial"],
                    "params": candidate["params"],
                    "fold_scores": scores,
                    "mean": float(np.mean(scores)),
                    "std": float(np.std(scores)),
                    "best_epochs": best_epochs,
                    # refit's thresholds: fitted on the pooled out-of-fold predictions, which no fold model trained on
                    "thresholds": fit_thresholds(run.agent, oof, needs_calibration(run)),
                }
            )
    winner = min(results, key=lambda r: (-r["mean"], r["std"], r["trial"]))
    return {"metric": "primary", "folds": n_folds, "candidates": results, "winner": winner["trial"]}


def refit_epochs(winner: dict) -> int:
    """Refit trains without a validation split, so it cannot stop early: it runs the mean best epoch of CV."""
    return max(1, math.ceil(float(np.mean(winner["best_epochs"]))))
