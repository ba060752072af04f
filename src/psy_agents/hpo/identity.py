"""A study's name: a hash of everything its trials' results depend on, so a study is what its name says.

That is the code the stage runs and the files it reads (the stage's deps, the list DVC reruns the stage on) and the
params that define its trials (space, stage settings, base config). A rerun with unchanged inputs (a killed stage, a larger n_trials or timeout, other workers)
continues the study; any other change names a fresh one, and `announce` says which inputs changed since the last one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna

from psy_agents.errors import InputError

log = logging.getLogger(__name__)

IDENTITY_ATTR = "identity"  # study user attr: the file digests and params digest its name hashes
CREATED_ATTR = "created"  # study user attr: when the stage created it (ISO, UTC), to find the latest earlier study


@dataclass(frozen=True)
class Identity:
    name: str  # `criteria-a-1a2b3c4d5e`
    record: dict[str, Any]  # {"files": {path: md5}, "params": sha1}, stored with the study


def digest(value: Any) -> str:
    """sha1 of a JSON value, keys sorted."""
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()


def stage_deps(stage: str, agent: str) -> list[str]:
    """What a search stage's trials run and read: its script, the package, its input files (dvc.yaml lists the same
    as the stage's deps; tests/test_hpo_study.py checks that they agree)."""
    inputs = {"a": ["data/processed"],
              "b": ["data/processed", "data/tfidf", f"outputs/{agent}/hpo_a/topk.json"]}[stage]
    return ["stages/hpo.py", "src/psy_agents", *inputs]


def file_digests(deps: list[str] | tuple[str, ...], missing_ok: bool = False) -> dict[str, str | None]:
    """md5 of every file of every dep (directories walked as DVC does, bytecode caches left out); with missing_ok
    a missing dep maps to None (a worker that lacks an upstream stage's output)."""
    out: dict[str, str | None] = {}
    for dep in deps:
        path = Path(dep)
        if not path.exists() and missing_ok:
            out[Path(dep).as_posix()] = None
            continue
        if not path.exists():
            raise InputError(f"{dep}: not found, and the stage depends on it (dvc.yaml); `dvc repro` makes it")
        files = sorted(f for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts) if path.is_dir() \
            else [path]
        out.update({f.as_posix(): hashlib.md5(f.read_bytes()).hexdigest() for f in files})
    return out


def study_identity(agent: str, stage: str, params: dict[str, Any], deps: list[str] | tuple[str, ...],
                   missing_ok: bool = False) -> Identity:
    record = {"files": file_digests(deps, missing_ok), "params": digest(params)}
    return Identity(f"{agent}-{stage}-{digest(record)[:10]}", record)


def agrees(stage_record: dict[str, Any], worker_record: dict[str, Any]) -> bool:
    """A worker's inputs are the stage's: same params and files, except deps the worker lacks (None: stage A's
    top-K on a stage B worker, which trains without it), which it takes as the stage's."""
    missing = [path for path, md5 in worker_record["files"].items() if md5 is None]
    theirs = {path: md5 for path, md5 in stage_record.get("files", {}).items()
              if not any(path == m or path.startswith(m + "/") for m in missing)}
    ours = {path: md5 for path, md5 in worker_record["files"].items() if md5 is not None}
    return stage_record.get("params") == worker_record["params"] and theirs == ours


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The files whose content differs between two identity records (added or gone too), then `params`."""
    before, after = old.get("files", {}), new["files"]
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    return changed + (["params"] if old.get("params") != new["params"] else [])


def announce(storage: optuna.storages.BaseStorage, identity: Identity) -> None:
    """Log whether the stage continues its study or starts a fresh one, naming the one it replaces and why."""
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    same = [s for s in summaries if s.study_name == identity.name]
    if same:
        log.info("%s: continuing the study (same code, inputs and params): %d trials so far", identity.name,
                 same[0].n_trials)
        return
    prefix = identity.name.rsplit("-", 1)[0] + "-"
    earlier = [s for s in summaries if s.study_name.startswith(prefix)]
    if not earlier:
        log.info("%s: a new study", identity.name)
        return
    last = max(earlier, key=lambda s: str(s.user_attrs.get(CREATED_ATTR, "")))
    changed = changes(last.user_attrs.get(IDENTITY_ATTR, {}), identity.record)
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    log.warning("%s: a fresh study; since study %s (%d trials, kept in the storage) changed: %s", identity.name,
                last.study_name, last.n_trials, shown)


def stamp(study: optuna.Study, identity: Identity) -> None:
    """Record what the study's name stands for (once, by the stage that creates it)."""
    if IDENTITY_ATTR not in study.user_attrs:
        study.set_user_attr(IDENTITY_ATTR, identity.record)
        study.set_user_attr(CREATED_ATTR, datetime.now(timezone.utc).isoformat())
