"""The processes that run a study's trials (the DVC stage and any `psy-agents worker`) and its trial budget.

Budget: Optuna's MaxTrialsCallback stops a process after a trial once the study holds n_trials finished (COMPLETE or
PRUNED) trials, counting every process's; a process also starts at most the trials still missing when it starts,
so a space whose trials all fail cannot loop forever. A process decides to start a trial only right after its
previous one ended, so when the count reaches n_trials each other process finishes at most the one trial it is
running: with N processes (the stage and N - 1 workers) a study ends with n_trials to n_trials + N - 1 finished trials.
A failed trial counts for nothing; a trial whose process died is failed by Optuna's heartbeat check and re-queued
with the same parameters (storage.py), run next by whichever process asks for a trial while the budget is not met.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable

import optuna
import torch
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from psy_agents.config import HpoConfig
from psy_agents.errors import InputError
from psy_agents.hpo.identity import CREATED_ATTR, IDENTITY_ATTR, Identity, agrees
from psy_agents.training.loop import DivergedError

log = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# A trial that hits one of these is recorded FAILED and the study goes on (impossible combination, divergence, OOM).
TRIAL_ERRORS = (DivergedError, InputError, torch.cuda.OutOfMemoryError)
OPEN_ATTR = "opened_by_stage"  # study user attr: the DVC stage created the study and enqueued its seeds


def finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def poll_seconds(hpo: HpoConfig) -> float:
    """Seconds between looks at the study while other processes' trials run (stale trials show up this fast)."""
    return float(max(0.5, min(5.0, hpo.heartbeat_interval)))


def fail_stale(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose heartbeat is older than the grace period (their process died) and let the
    storage's RetryHeartbeatStaleTrialCallback re-queue them; returns their numbers."""
    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    if not running:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return sorted(t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if t.number in running)


def run_trials(study: optuna.Study, objective: Callable, n_trials: int, timeout: float | None) -> int:
    """Run trials until the study holds n_trials finished ones (all processes), starting none after `timeout`
    seconds. Returns the number of trials this process ran."""
    missing = n_trials - finished(study)
    if missing <= 0:
        return 0
    ran: list[int] = []
    study.optimize(objective, n_trials=missing, timeout=timeout, catch=TRIAL_ERRORS, callbacks=[
        MaxTrialsCallback(n_trials, states=FINISHED), lambda _, trial: ran.append(trial.number)])
    return len(ran)


def wait_for_running(study: optuna.Study, storage: RDBStorage, poll: float, deadline: float | None = None) -> None:
    """Return once no trial is RUNNING (or at `deadline`, time.monotonic): the stage exports next, so the trials
    other processes still run finish first, and those of dead processes are failed when their heartbeat goes stale.

    Optuna starts a trial's heartbeat only after its sampler ran: a process killed in between leaves a RUNNING trial
    with no heartbeat, which Optuna never calls stale. One heartbeat recorded here for each RUNNING trial starts its
    clock (a live process overwrites it at its next beat), so such a trial is failed after the grace period too.
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    started: set[int] = set()
    told = False
    while running := study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        for number in {t.number for t in running} - started:
            storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(study_id, number))
            started.add(number)
        if deadline is not None and time.monotonic() >= deadline:
            return
        if not told:
            log.info("%s: waiting for %d trial(s) running elsewhere", study.study_name, len(running))
            told = True
        time.sleep(poll)
        if stale := fail_stale(study):
            log.warning("%s: trials %s lost their process (no heartbeat); failed and re-queued", study.study_name,
                        stale)


def wait_until_open(identity: Identity, storage: RDBStorage, sampler: optuna.samplers.BaseSampler,
                    pruner: optuna.pruners.BasePruner | None, poll: float, wait: float | None) -> optuna.Study:
    """A worker's study, once the DVC stage has created it and enqueued its seeds (OPEN_ATTR): the newest open
    study of this agent and stage whose recorded inputs agree with the worker's (identity.agrees)."""
    prefix = identity.name.rsplit("-", 1)[0] + "-"
    deadline = None if wait is None else time.monotonic() + wait
    told = False
    while True:
        open_ones = [s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
                     if s.study_name.startswith(prefix) and s.user_attrs.get(OPEN_ATTR)
                     and agrees(s.user_attrs.get(IDENTITY_ATTR, {}), identity.record)]
        if open_ones:
            name = max(open_ones, key=lambda s: str(s.user_attrs.get(CREATED_ATTR, ""))).study_name
            return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        if deadline is not None and time.monotonic() >= deadline:
            raise InputError(f"no open study with this worker's inputs ({identity.name}) within {wait:g} s: start the "
                             "stage (`dvc repro`) with the same code, params.yaml, input files and hpo.storage, or "
                             "compare the study name the stage logs with this one")
        if not told:
            log.info("waiting for the DVC stage to open study %s (or one that differs only in files missing here: %s)",
                     identity.name, [p for p, d in identity.record["files"].items() if d is None] or "none")
            told = True
        time.sleep(poll)
