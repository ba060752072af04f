"""The search stages: A (TPE + Hyperband, one objective, every trial toward hpo.a.max_resource epochs, `trial.report`
then `should_prune` every epoch) and B (NSGA-II over primary up and ECE down by default, stage A's top-K enqueued
first, augmentation in the space).

The DVC stage (run_search) and any `psy-agents worker` (join_search) run trials of one study, named by identity.py.
The stage alone creates it, fails the trials of dead processes, enqueues the seeds and then marks it open; workers
wait for that mark and never enqueue, so a seed is added once whatever the number of workers.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import replace
from typing import Any

import optuna
import torch
from optuna.exceptions import ExperimentalWarning

from psy_agents.config import RunConfig, SearchConfig, StageAConfig, StageBConfig, run_config
from psy_agents.data.examples import select
from psy_agents.data.splits import post_subset
from psy_agents.errors import InputError
from psy_agents.evaluation.scoring import SCALAR_METRICS
from psy_agents.hpo.export import TRAINED
from psy_agents.hpo.identity import Identity, announce, digest, file_digests, stage_deps, stamp, study_identity
from psy_agents.hpo.inputs import StageInputs
from psy_agents.hpo.space import HORIZON_KEYS, base_values, defaults_in_space, suggest, validate_space
from psy_agents.hpo.storage import make_storage, open_study
from psy_agents.hpo.workers import (
    OPEN_ATTR,
    fail_stale,
    finished,
    poll_seconds,
    run_trials,
    wait_for_running,
    wait_until_open,
)
from psy_agents.training.loop import autocast_dtype, resolve_device, train

log = logging.getLogger(__name__)


# Study user attr: run_digest -> what the enqueued seeds' trials recorded of their training (TRAINED), set by the
# DVC stage before it opens the study, so that every process running the study can take those results over
TRAINED_ATTR = "trained_runs"


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


def objective_values(metrics: dict, objectives: tuple[str, ...]) -> list[float]:
    """Top-level metric keys: `primary` (every agent's selection metric), ece, ..."""
    return [float(metrics[name]) for name in objectives]


def stage_fixed(cfg: SearchConfig) -> dict[str, Any]:
    """What a stage with a horizon (hpo.a.max_resource, hpo.b.epochs) sets in every trial outside its space
    (space.HORIZON_KEYS): that many epochs, early stopping off. One horizon is one LR schedule (warm-up and decay
    over the same epochs), so trials, and Hyperband's rungs, compare at the same point of their schedules, and only
    the pruner stops a trial."""
    if cfg.horizon is None:
        return {}
    return dict(zip(HORIZON_KEYS, (cfg.horizon, 0), strict=True))


def default_seed(inputs: StageInputs, stage: str) -> dict:
    """params.yaml's own config as a seed trial: a short search then never ends below the defaults it started from.
    It runs through the stage's objective, so in stage A it trains the same horizon as every other trial."""
    space = inputs.space(stage)
    base = base_values(run_config(inputs.agent, inputs.sections, stage_fixed(getattr(inputs.hpo, stage))))
    return {"params": defaults_in_space(space, base), "source": "params.yaml"}


def run_digest(run: RunConfig, train_posts: list[str], files: dict[str, str | None]) -> str:
    """What a trial's result depends on: the code and data (`files`, stage A's deps), the run config (its augment
    section only where the run augments), the train posts (validation is every val post) and what the numbers
    depend on beyond them: device, autocast dtype, thread count and torch version. Equal digests, equal results:
    stage B takes over stage A's result for a seed it would train again unchanged (hpo.b at stage A's fidelity, the
    seed without augmentation) instead of training it twice."""
    config = run.to_dict()
    if not run.augments:
        config["augment"] = None
    device = resolve_device()
    machine = {"device": device.type, "dtype": str(autocast_dtype(run.train.precision, device)),
               "threads": run.train.threads or torch.get_num_threads(), "torch": torch.__version__}
    return digest({"run": config, "train_posts": sorted(train_posts), "files": files, "machine": machine})


def trained_runs(seeds: list[dict]) -> dict[str, dict]:
    """run_digest -> what a seed's trial recorded of its training (seeds_from_a's `trained`), for the study."""
    return {s["trained"]["run_digest"]: s["trained"] for s in seeds
            if {"run_digest", "metrics"} <= s.get("trained", {}).keys()}


def seeds_from_a(inputs: StageInputs, ranked: list[dict]) -> list[dict]:
    """Stage A's top-K (topk.json) as stage B's first trials. Each keeps the horizon stage A scored it at (its
    `epochs`, hpo.a.max_resource: a completed stage A trial runs to the end) where stage B's space can take it, so
    the seed is the config stage A ranked, LR schedule included; elsewhere stage B's sampler draws its epochs
    (with hpo.b.epochs set, stage B's own horizon applies to every trial).
    The first also keeps params.yaml's augmentation (none by default), so stage B holds the config stage A ranked
    first exactly as it was trained, and a sampled augmentation (the other seeds', the sampler's) must beat it.
    Each carries what stage A recorded of its training (`trained`, TRAINED), for make_objective to take over."""
    space = inputs.space("b")
    augment = {key: entry for key, entry in space.items() if key.startswith("augment.")}
    control = defaults_in_space(augment, base_values(run_config(inputs.agent, inputs.sections))) if augment else {}
    return [{"params": {**r["params"], **defaults_in_space(space, {"train.epochs": r["epochs"]}),
                        **(control if i == 0 else {})},
             "source": f"hpo_a:trial{r['trial']}", "trained": {k: r[k] for k in TRAINED if k in r}}
            for i, r in enumerate(ranked)]


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


def _no_augmenter(run) -> None:
    return None


def record_generation(trial: optuna.Trial) -> None:
    """A genetic sampler's generation of the trial, as its user attr `generation` (trials.csv). Stage B's seeds are
    enqueued with every value fixed, so NSGA-II never samples them and would leave them out of its generations:
    asking for the generation (BaseGASampler.get_trial_generation) makes them generation 0, the parents it breeds
    the next generation from, instead of a random first generation."""
    if not isinstance(trial, optuna.Trial):  # a FixedTrial (`psy-agents train`) belongs to no study
        return
    sampler = trial.study.sampler
    if isinstance(sampler, optuna.samplers.BaseGASampler):
        frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
        trial.set_user_attr("generation", sampler.get_trial_generation(trial.study, frozen))


def make_objective(inputs: StageInputs, stage: str, cfg: SearchConfig, progress: bool):
    """The stage's objective. A trial whose run digest is one the study records as trained (TRAINED_ATTR, from
    the seeds run_search enqueued) takes over that result and trains nothing (user attr `reused`), whichever
    process runs it."""
    check_objectives(inputs.agent, stage, cfg)
    space = inputs.space(stage)
    validate_space(space, f"search ({inputs.agent}, stage {stage})")
    fixed = stage_fixed(cfg)
    base = base_values(run_config(inputs.agent, inputs.sections, fixed))
    train_posts = search_posts(inputs, cfg)
    train_ex = select(inputs.examples, train_posts)
    val_ex = select(inputs.examples, inputs.splits["val"])
    files = file_digests(stage_deps("a", inputs.agent), missing_ok=True)
    scalars = SCALAR_METRICS[inputs.agent]
    single = len(cfg.objectives) == 1
    augmenter_for = _no_augmenter
    if stage == "b":  # only stage B augments: stage A neither imports nor runs augment (see its deps in dvc.yaml)
        from psy_agents.augment.policy import augmenter_for

    def objective(trial: optuna.Trial) -> float | list[float]:
        run = run_config(inputs.agent, inputs.sections, {**suggest(trial, space, base), **fixed})
        record_generation(trial)
        run_id = run_digest(run, train_posts, files)
        trial.set_user_attr("run_digest", run_id)
        known = trial.study.user_attrs.get(TRAINED_ATTR, {}) if isinstance(trial, optuna.Trial) else {}
        if earlier := known.get(run_id):
            for key, value in earlier.items():
                trial.set_user_attr(key, value)
            trial.set_user_attr("reused", True)
            values = objective_values(earlier["metrics"], cfg.objectives)
            return values[0] if single else values

        def report(epoch: int, loss: float, metrics: dict | None) -> None:
            if single and metrics is not None:
                trial.report(objective_values(metrics, cfg.objectives)[0], epoch)
                if trial.should_prune():
                    trial.set_user_attr("epochs", epoch)
                    raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        result = train(run, train_ex, val_ex, callbacks=(report,), augmenter=augmenter_for(run), progress=progress)
        trial.set_user_attr("epochs", result.epochs_run)
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("metrics", {k: float(v) for k, v in result.best_metrics.items() if k in scalars})
        values = objective_values(result.best_metrics, cfg.objectives)
        return values[0] if single else values

    return objective, space


def search_identity(inputs: StageInputs, stage: str, cfg: SearchConfig, space: dict, worker: bool = False
                    ) -> Identity:
    """The study's name: the stage's deps (code, data, stage A's top-K, TF-IDF model) and the params that define
    its trials. n_trials and timeout say how long to search and top_k what to export, so they continue the study.
    A worker may lack an upstream output (identity.agrees)."""
    settings = {k: v for k, v in vars(cfg).items() if k not in ("n_trials", "timeout", "top_k")}
    params = {"space": space, "stage": settings, "base": inputs.sections}
    return study_identity(inputs.agent, stage, params, inputs.deps, missing_ok=worker)


def enqueue_once(study: optuna.Study, params: dict, source: str) -> None:
    """Enqueue a seed config unless a trial from the same source exists (reruns, a retried seed keeps its source)."""
    if any(t.user_attrs.get("source") == source for t in study.get_trials(deepcopy=False)):
        return
    study.enqueue_trial(params, user_attrs={"source": source}, skip_if_exists=False)


def run_search(inputs: StageInputs, stage: str, progress: bool = True, enqueue: list[dict] | None = None):
    """The DVC stage: open (or continue) the study, enqueue the seeds, run trials until the study holds n_trials
    finished ones (workers may join), then wait for trials still running elsewhere. Returns the study and the
    seconds this took."""
    cfg = getattr(inputs.hpo, stage)
    objective, space = make_objective(inputs, stage, cfg, progress)
    identity = search_identity(inputs, stage, cfg, space)
    storage = make_storage(inputs.hpo, inputs.store)
    announce(storage, identity)
    study = open_study(identity.name, storage, make_sampler(cfg), make_pruner(cfg), cfg.directions,
                       metric_names=list(cfg.objectives))
    stamp(study, identity)
    if stale := fail_stale(study):
        log.warning("%s: trials %s of a killed run were marked failed and will be retried", identity.name, stale)
    for seed in enqueue or []:
        enqueue_once(study, seed["params"], seed["source"])
    if runs := trained_runs(enqueue or []):
        study.set_user_attr(TRAINED_ATTR, runs)
    if not study.user_attrs.get(OPEN_ATTR):
        study.set_user_attr(OPEN_ATTR, True)
    start = time.monotonic()
    log.info("%s: %d of %d trials finished", identity.name, finished(study), cfg.n_trials)
    run_trials(study, objective, cfg.n_trials, cfg.timeout)
    wait_for_running(study, storage, poll_seconds(inputs.hpo), None if cfg.timeout is None else start + cfg.timeout)
    return study, time.monotonic() - start


def join_search(inputs: StageInputs, stage: str, progress: bool = True, wait: float | None = None):
    """`psy-agents worker`: wait until the DVC stage has opened the study, then run its trials until it holds
    n_trials finished ones. Returns the study and the number of trials this worker ran."""
    if stage not in ("a", "b"):
        raise InputError(f"stage {stage}: only the search stages a and b have a shared study to join; stage C "
                         "cross-validates in the DVC stage process")
    cfg = getattr(inputs.hpo, stage)
    objective, space = make_objective(inputs, stage, cfg, progress)
    identity = search_identity(inputs, stage, cfg, space, worker=True)
    # every worker samples with its own seed: the stage's seed would repeat the stage's own random trials
    sampler = make_sampler(replace(cfg, seed=int.from_bytes(os.urandom(4), "big") >> 1))
    storage = make_storage(inputs.hpo, inputs.store)
    study = wait_until_open(identity, storage, sampler, make_pruner(cfg), poll_seconds(inputs.hpo), wait)
    log.info("joined study %s: %d of %d trials finished", study.study_name, finished(study), cfg.n_trials)
    return study, run_trials(study, objective, cfg.n_trials, cfg.timeout)
