"""More machines: the DVC stage and `psy-agents worker` processes share one study on a real PostgreSQL server.

The suite starts its own throwaway server from the Debian `postgresql` package binaries (initdb + pg_ctl, a cluster
in a temp dir, 127.0.0.1 on a free port, password auth) and stops it afterwards. Every process runs on this one
machine, but they only meet through the database, exactly as on several machines.
"""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from conftest import ROOT, defaults, synthetic_release, write_release
from optuna.trial import TrialState
from test_pipeline import dvc, smoke_params
from tiny import save_tiny_backbone

from psy_agents.config import load_params

optuna.logging.set_verbosity(optuna.logging.WARNING)

BIN = Path(sys.executable).parent
AGENT = "criteria"
N_A, N_B = 6, 4  # stage A and B trials of the shared run
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class Server:
    port: int
    password: str

    def url(self, db: str) -> str:
        """What goes in params.yaml: no password."""
        return f"postgresql://psy@127.0.0.1:{self.port}/{db}"

    def storage(self, db: str) -> str:
        """For the test's own reads only."""
        return f"postgresql+psycopg2://psy:{self.password}@127.0.0.1:{self.port}/{db}"


def _server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb is None or not (Path(initdb).parent / "pg_ctl").exists():
        return None
    return Path(initdb).resolve().parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    bindir = _server_binaries()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found: apt-get install postgresql")
    import psycopg2

    root = Path(tempfile.mkdtemp(prefix="psy-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to the package's `postgres` user
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    password = secrets.token_hex(12)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    if as_owner:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    data, port = root / "data", _free_port()
    pg_ctl = [*as_owner, str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run([*as_owner, str(bindir / "initdb"), "-D", str(data), "-U", "psy", f"--pwfile={pwfile}",
                        "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, text=True)
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} -c fsync=off "
                   "-c shared_buffers=16MB -c max_connections=60")
        started = subprocess.run([*pg_ctl, "-w", "-t", "60", "-l", str(root / "log"), "-o", options, "start"],
                                 capture_output=True, text=True)
        assert started.returncode == 0, (root / "log").read_text()[-2000:]
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="psy", password=password, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            for db in ("shared", "killed"):
                cur.execute(f"CREATE DATABASE {db}")
        conn.close()
        yield Server(port, password)
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def distributed_params(backbone: str) -> dict:
    """Smoke params, one agent, 1 epoch, one thread per process, no conditional parameters (so trials.csv has the
    same columns whichever configs were sampled), heartbeats every second and a 3 s grace period."""
    params = smoke_params(backbone)
    params["agents"] = [AGENT]
    params["train"].update(epochs=1, threads=1)
    del params["search"]["common"]["train"]["epochs"]
    for section, key in (("model", "head_hidden"), ("model", "head_activation"), ("train", "focal_gamma")):
        del params["search"][AGENT][section][key]
    params["hpo"].update(heartbeat_interval=1, grace_period=3, max_retry=1)
    params["hpo"]["a"].update(n_trials=N_A, tpe_startup=2, pruner="none", top_k=2, max_resource=1)
    params["hpo"]["b"].update(n_trials=N_B, population_size=2)
    return params


def write_params(root: Path, params: dict) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A smoke project with groundtruth and tfidf run (what a worker machine needs besides the code)."""
    root = tmp_path_factory.mktemp("base")
    for name in ("dvc.yaml", "stages", "src"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, root / name)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    assert dvc(root, "init", "-q").returncode == 0
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], cwd=root, check=True)
    write_release(root / "data" / "redsm5", *synthetic_release(60))
    write_params(root, distributed_params(save_tiny_backbone(root / "tiny-bert")))
    result = dvc(root, "repro", "groundtruth", "tfidf")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return root


def project(base: Path, where: Path, **hpo) -> Path:
    shutil.copytree(base, where, symlinks=True)
    params = load_params(where / "params.yaml")
    params["hpo"].update(hpo)
    write_params(where, params)
    return where


def env(server: Server | None) -> dict:
    out = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    out.pop("PGPASSWORD", None)
    if server is not None:
        out["PGPASSWORD"] = server.password
    return out


def start_worker(root: Path, stage: str, server: Server, tag: str) -> tuple[subprocess.Popen, Path]:
    log = root / f"worker-{tag}.log"
    proc = subprocess.Popen([str(BIN / "psy-agents"), "worker", "--agent", AGENT, "--stage", stage, "--wait", "300"],
                            cwd=root, env=env(server), stdout=log.open("w"), stderr=subprocess.STDOUT)
    return proc, log


def finish(procs: list[tuple[subprocess.Popen, Path]]) -> list[str]:
    logs = []
    for proc, log in procs:
        proc.wait(timeout=300)
        logs.append(log.read_text())
        assert proc.returncode == 0, logs[-1][-3000:]
    return logs


def ran(log: str) -> int:
    return int(re.search(r"ran (\d+) trials", log).group(1))


def load(server: Server, db: str, prefix: str) -> optuna.Study:
    storage = server.storage(db)
    [name] = [n for n in optuna.get_all_study_names(storage) if n.startswith(prefix)]
    return optuna.load_study(study_name=name, storage=storage)


@pytest.fixture(scope="module")
def shared(base, postgres, tmp_path_factory) -> dict:
    """Stage A, then stage B, each run by `dvc repro` plus two workers started at the same moment."""
    root = project(base, tmp_path_factory.mktemp("shared") / "p", storage=postgres.url("shared"))
    logs = {}
    for stage in ("a", "b"):
        workers = [start_worker(root, stage, postgres, f"{stage}{i}") for i in (1, 2)]
        repro = subprocess.run([sys.executable, "-m", "dvc", "repro", f"hpo_{stage}@{AGENT}"], cwd=root,
                               env=env(postgres), capture_output=True, text=True, timeout=400)
        assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]
        logs[stage] = {"stage": repro.stdout + repro.stderr, "workers": finish(workers)}
    return {"root": root, "logs": logs}


def test_stage_and_two_workers_finish_the_budget_each_trial_run_once(shared, postgres):
    study = load(postgres, "shared", f"{AGENT}-a-")
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in FINISHED]
    # MaxTrialsCallback: each of the two workers may finish one trial beyond n_trials (README, More machines)
    assert N_A <= len(finished) <= N_A + 2
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert len({t.number for t in trials}) == len(trials)
    assert len({json.dumps(t.params, sort_keys=True) for t in finished}) == len(finished)  # none evaluated twice
    worker_trials = [ran(log) for log in shared["logs"]["a"]["workers"]]
    assert sum(worker_trials) >= 1, "the workers ran nothing: the test shows no sharing"
    assert sum(worker_trials) < len(trials)  # the stage ran the rest
    exported = pd.read_csv(shared["root"] / f"outputs/{AGENT}/hpo_a/trials.csv")
    assert sorted(exported["number"]) == [t.number for t in trials]


def test_stage_b_seeds_are_enqueued_once_whatever_the_workers(shared, postgres):
    topk = json.loads((shared["root"] / f"outputs/{AGENT}/hpo_a/topk.json").read_text())
    study = load(postgres, "shared", f"{AGENT}-b-")
    trials = study.get_trials(deepcopy=False)
    assert N_B <= len([t for t in trials if t.state in FINISHED]) <= N_B + 2  # + at most one per worker
    sources = Counter(t.user_attrs.get("source") for t in trials if "source" in t.user_attrs)
    assert sources == Counter({f"hpo_a:trial{r['trial']}": 1 for r in topk})
    # the stage enqueues before it lets workers in: the seeds are the study's first trials
    assert {t.number for t in trials if "source" in t.user_attrs} == set(range(len(topk)))
    seeded = {t.user_attrs["source"]: t.params for t in trials if "source" in t.user_attrs}
    for r in topk:
        assert {k: seeded[f"hpo_a:trial{r['trial']}"][k] for k in r["params"]} == r["params"]
    assert sum(ran(log) for log in shared["logs"]["b"]["workers"]) >= 1


def test_outputs_have_the_single_machine_format_and_no_password(shared, base, postgres, tmp_path):
    # the same stage on one machine (file storage), two trials
    local = project(base, tmp_path / "local", storage="")
    params = load_params(local / "params.yaml")
    params["hpo"]["a"]["n_trials"] = 2
    write_params(local, params)
    result = subprocess.run([sys.executable, str(local / "stages/hpo.py"), "--stage", "a", "--agent", AGENT],
                            cwd=local, env=env(None), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    root = shared["root"]
    for path in ("trials.csv",):
        assert list(pd.read_csv(root / f"outputs/{AGENT}/hpo_a/{path}")) == list(
            pd.read_csv(local / f"outputs/{AGENT}/hpo_a/{path}"))
    shared_topk = json.loads((root / f"outputs/{AGENT}/hpo_a/topk.json").read_text())
    local_topk = json.loads((local / f"outputs/{AGENT}/hpo_a/topk.json").read_text())
    assert [set(r) for r in shared_topk] == [set(r) for r in local_topk]
    assert set(shared_topk[0]["params"]) == set(local_topk[0]["params"])
    for name in ("hpo_a.json",):
        assert set(json.loads((root / f"metrics/{AGENT}/{name}").read_text())) == set(
            json.loads((local / f"metrics/{AGENT}/{name}").read_text()))
    # the study lives on the server only (no local store); the export holds every finished trial of it
    assert not (root / ".studies").exists() and (local / ".studies" / "optuna.db").exists()
    study = load(postgres, "shared", f"{AGENT}-a-")
    assert len(pd.read_csv(root / f"outputs/{AGENT}/hpo_a/trials.csv")) == len(study.get_trials(deepcopy=False))
    status = dvc(root, "status", "--json", f"hpo_a@{AGENT}", f"hpo_b@{AGENT}")
    assert json.loads(status.stdout or "{}") == {}, status.stdout
    texts = [p.read_text(errors="ignore") for p in root.rglob("*")
             if p.is_file() and p.suffix in {".json", ".csv", ".yaml", ".lock", ".log"}]
    texts += [shared["logs"][s]["stage"] for s in "ab"]
    assert not [t for t in texts if postgres.password in t]


def test_a_worker_killed_mid_trial_leaves_a_trial_that_heartbeats_fail_and_retry(base, postgres, tmp_path, monkeypatch):
    from psy_agents.hpo.inputs import stage_inputs
    from psy_agents.hpo.search import run_search

    root = project(base, tmp_path / "killed", storage=postgres.url("killed"))
    params = load_params(root / "params.yaml")
    # five epochs (a stage A trial trains max_resource, no early stop): the test kills the worker once its trial
    # has reported epoch 1
    params["hpo"]["a"].update(n_trials=2, max_resource=5)
    params["train"]["batch_size"] = 8
    del params["search"]["common"]["train"]["batch_size"]
    write_params(root, params)

    # open the study as the stage does, without running a trial, so that the worker's trial is the only one
    monkeypatch.chdir(root)
    monkeypatch.setenv("PGPASSWORD", postgres.password)
    inputs = stage_inputs(AGENT, "a")
    inputs.hpo = replace(inputs.hpo, a=replace(inputs.hpo.a, n_trials=0))
    study, _ = run_search(inputs, "a", progress=False)

    proc, log = start_worker(root, "a", postgres, "doomed")
    deadline = time.monotonic() + 120
    # mid-trial: epoch 1 reported (the heartbeat thread has long written), epochs 2-5 to go
    while not [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if t.intermediate_values]:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)
    [doomed] = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert study.get_trials(deepcopy=False)[doomed.number].state == TrialState.RUNNING  # left by the dead worker
    time.sleep(inputs.hpo.grace_period + 1)  # its last heartbeat is now stale

    result = subprocess.run([sys.executable, str(root / "stages/hpo.py"), "--stage", "a", "--agent", AGENT],
                            cwd=root, env=env(postgres), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = study.get_trials(deepcopy=False)
    assert trials[doomed.number].state == TrialState.FAIL
    [retry] = [t for t in trials if t.system_attrs.get("failed_trial") == doomed.number]
    assert retry.state in FINISHED and retry.params == doomed.params
    assert len([t for t in trials if t.state in FINISHED]) == 2
    assert "failed" in result.stderr + result.stdout and str(doomed.number) in result.stderr + result.stdout
    exported = pd.read_csv(root / f"outputs/{AGENT}/hpo_a/trials.csv")
    assert exported.set_index("number").loc[doomed.number, "state"] == "FAIL"


def test_a_stage_c_worker_says_stage_c_runs_in_the_stage_process(capsys):
    from psy_agents.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["worker", "--agent", AGENT, "--stage", "c"])
    assert exit_info.value.code == 2
    assert "runs in the DVC stage process only" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_running_trial_that_never_wrote_a_heartbeat_neither_holds_the_budget_nor_the_stage(tmp_path):
    """A process killed between creating its trial and its first heartbeat: Optuna never calls that trial stale. It
    counts for nothing in the budget, and the stage's wait for running trials gives it a heartbeat, so the grace
    period fails (and re-queues) it instead of the stage waiting forever."""
    from psy_agents.config import HpoConfig
    from psy_agents.hpo.storage import make_storage, open_study
    from psy_agents.hpo.workers import run_trials, wait_for_running

    storage = make_storage(defaults(HpoConfig, heartbeat_interval=1, grace_period=1), tmp_path / "optuna.db")
    study = open_study("criteria-a-silent", storage, None, None, ["maximize"])
    study.ask().suggest_float("x", 0.0, 1.0)  # RUNNING, no heartbeat, its process gone
    assert run_trials(study, lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=1, timeout=None) == 1
    started = time.monotonic()
    wait_for_running(study, storage, poll=0.2, deadline=started + 60)
    dead, done, retry = study.get_trials(deepcopy=False)
    assert time.monotonic() - started < 10
    assert dead.state == TrialState.FAIL and done.state == TrialState.COMPLETE and retry.state == TrialState.WAITING
    assert retry.system_attrs["failed_trial"] == 0 and retry.params == dead.params
