"""Where studies live: Optuna's RDBStorage on a SQLite store in the project, or on a shared database (hpo.storage).

The local store `.studies/optuna.db` is no DVC out: `dvc exp run` restores the outs dvc.lock records and deletes a
persisted out that a killed stage never got recorded, which lost every finished trial. Outside the outs, a killed
study survives any rerun; its name says what it is (identity.py), so one store holds every study of the project.
The directory ignores itself in git.

Both storages get heartbeats: a trial whose process died (SIGKILL, lost machine) stops being RUNNING once its last
heartbeat is older than the grace period, and RetryHeartbeatStaleTrialCallback re-queues it with the same
parameters. Optuna's JournalStorage records no heartbeats, so its orphaned RUNNING trials would stay forever.
"""

from __future__ import annotations

import logging
import os
import random
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from psy_agents.config import HpoConfig
from psy_agents.errors import InputError

log = logging.getLogger(__name__)

STORE = Path(".studies") / "optuna.db"  # the local store (hpo.storage empty), relative to the project root
SCHEMA_ATTEMPTS = 5


def redact(url: str) -> str:
    """The storage URL with any password replaced by ***, safe to log."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "<unparsable storage URL>"


def database_url(storage: str) -> str:
    """Parse hpo.storage and add the password from PGPASSWORD; a password written in params is refused."""
    try:
        url = sqlalchemy.engine.make_url(storage)
    except sqlalchemy.exc.ArgumentError:
        raise InputError(
            f"params.yaml hpo.storage: {redact(storage)} is not a database URL; use postgresql://user@host/db "
            "or leave it empty for the local store"
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


def local_store(path: Path) -> str:
    """The SQLite URL of the local store at `path`; its directory ignores itself in git (local state)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Optuna studies of this project (psy_agents.hpo.storage): local state, never committed\n*\n")
    return f"sqlite:///{path.resolve()}"


def _schema_race(exc: sqlalchemy.exc.SQLAlchemyError) -> bool:
    """Another process created Optuna's tables (or its version row) between our look and our CREATE/INSERT."""
    return isinstance(exc, (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError)) or (
        isinstance(exc, sqlalchemy.exc.OperationalError) and "already exists" in str(exc))


def make_storage(hpo: HpoConfig, store: Path = STORE) -> RDBStorage:
    """RDB storage with heartbeats and retry of trials whose process died: hpo.storage, or the SQLite store.

    SQLite commits are atomic, so a SIGKILL mid-trial leaves the file consistent; the 30 s busy timeout lets several
    processes on one machine share it. Processes that open an empty database at once race to create Optuna's tables
    (PostgreSQL: duplicate rows in its catalog; SQLite: "table already exists"); the losers retry once the winner has
    made them.
    """
    if hpo.storage:
        url = database_url(hpo.storage)
        # trials hold their connection idle for whole epochs; a server or NAT may drop it meanwhile
        engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
        shown = redact(url)
    else:
        url = shown = local_store(store)
        engine_kwargs = {"connect_args": {"timeout": 30}}
    attempt = 1
    while True:
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
            if _schema_race(exc) and attempt < SCHEMA_ATTEMPTS:
                attempt += 1
                time.sleep(random.uniform(0.2, 1.0))  # another process is creating the schema
                continue
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
    """Create the study, or load it when a previous run or another process already created it.

    metric_names (the objectives) label the value columns of trials.csv, e.g. values_primary, values_ece.
    """
    study = optuna.create_study(
        study_name=name, storage=storage, sampler=sampler, pruner=pruner, directions=list(directions),
        load_if_exists=True,
    )
    if metric_names is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            study.set_metric_names(list(metric_names))
    return study
