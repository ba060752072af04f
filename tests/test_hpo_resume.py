"""A study is what its name says, and survives every way a user reruns a killed stage.

One smoke project (tiny random BERT, 60-post synthetic release, the criteria agent) with a TRACKED dvc.lock, as on a
fresh clone: `dvc repro hpo_a`, then `dvc repro hpo_b` killed after a finished trial, rerun by `dvc repro` and
killed again, then the README's `dvc exp run -S ...`. Every finished trial must still be there. Then a changed top-K
and a code change must each start a fresh study that trains. The stages run with PYTHONPROFILEIMPORTTIME, so the
same runs also show which of our modules each stage imports: dvc.yaml must list them all as deps.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_pipeline import smoke_project

from psy_agents.config import load_params, load_yaml

N_B = 6  # stage B trials
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONUNBUFFERED": "1",
       "PYTHONPROFILEIMPORTTIME": "1", "OMP_NUM_THREADS": "1"}
EXP_RUN = ["exp", "run", "-S", "hpo.a.n_trials=2", "-S", f"hpo.b.n_trials={N_B}", "-S", "hpo.c.candidates=1",
           "-S", "agents=[criteria]"]  # the README's quick look, at the smoke project's own values


def dvc(root: Path, *args: str) -> str:
    result = subprocess.run(["dvc", *args], cwd=root, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=900)
    assert result.returncode == 0, quiet(result.stdout)[-4000:]
    return result.stdout


def quiet(log: str) -> str:
    return "\n".join(line for line in log.splitlines() if not line.startswith("import time:"))


def finished_trials(root: Path, prefix: str) -> dict[tuple[str, int], str]:
    """(study, trial number) -> params of every finished trial of the studies named prefix*, in whichever SQLite
    file of the project holds them (the test asks for no particular store)."""
    out = {}
    for db in root.rglob("*.db"):
        if ".dvc" in db.relative_to(root).parts:
            continue
        # not read-only: a process killed mid-write leaves a hot journal that only a writable connection rolls
        # back (a read-only one fails, which read as "no finished trial"); only SELECTs are run
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
            try:
                rows = con.execute(
                    "SELECT s.study_name, t.number, group_concat(p.param_name || '=' || p.param_value, ';') "
                    "FROM trials t JOIN studies s ON s.study_id = t.study_id "
                    "LEFT JOIN trial_params p ON p.trial_id = t.trial_id "
                    "WHERE t.state IN ('COMPLETE', 'PRUNED') AND s.study_name LIKE ? GROUP BY t.trial_id",
                    (prefix + "%",)).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):  # anything but "its tables are not created yet" is an error
                    raise
                rows = []
        out.update({(name, number): params for name, number, params in rows})
    return out


def kill_after(root: Path, prefix: str, at_least: int) -> str:
    """`dvc repro hpo_b@criteria`, terminated (SIGTERM, as a user's Ctrl-C or a scheduler would) once the study
    holds `at_least` finished trials; returns its log."""
    log = root / "killed.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["dvc", "repro", "hpo_b@criteria"], cwd=root, env=ENV, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 600
    while len(finished_trials(root, prefix)) < at_least:
        assert proc.poll() is None and time.monotonic() < deadline, quiet(log.read_text())[-3000:]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    return log.read_text()


@pytest.fixture(scope="module")
def resumed(tmp_path_factory) -> dict:
    hpo = load_params(Path(__file__).resolve().parents[1] / "params.yaml")["hpo"]
    root = smoke_project(tmp_path_factory.mktemp("resume"), {
        "agents": ["criteria"],
        "hpo": {**hpo, "heartbeat_interval": 1, "grace_period": 2,
                "a": {**hpo["a"], "n_trials": 2, "tpe_startup": 1, "max_resource": 2, "top_k": 1, "pruner": "none"},
                # every train post: trials slow enough for the test to kill the stage between two of them
                "b": {**hpo["b"], "n_trials": N_B, "population_size": 2, "train_fraction": 1.0},
                "c": {**hpo["c"], "candidates": 1}},
    })
    logs = {"prepare": dvc(root, "repro", "groundtruth", "tfidf")}
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "processed data"], cwd=root, check=True)  # dvc.lock is tracked
    logs["hpo_a"] = dvc(root, "repro", "hpo_a@criteria")

    logs["kill 1"] = kill_after(root, "criteria-b-", 1)
    first = finished_trials(root, "criteria-b-")
    time.sleep(3)  # past hpo.grace_period: the killed trial's heartbeat is stale
    logs["kill 2"] = kill_after(root, "criteria-b-", len(first) + 1)  # a rerun by dvc repro, killed again
    second = finished_trials(root, "criteria-b-")
    time.sleep(3)
    logs["exp run"] = dvc(root, *EXP_RUN)
    return {"root": root, "logs": logs, "first": first, "second": second,
            "after": finished_trials(root, "criteria-b-")}


def test_a_killed_stage_keeps_every_finished_trial_through_dvc_repro_and_dvc_exp_run(resumed):
    first, second, after = resumed["first"], resumed["second"], resumed["after"]
    assert 1 <= len(first) < len(second) < N_B, (first, second)
    assert {k: second[k] for k in first} == first  # dvc repro continued the killed study
    assert {k: after[k] for k in second} == second  # and so did dvc exp run, whose dvc.lock knows no hpo_b
    [name] = {study for study, _ in after}  # one study, continued
    log = quiet(resumed["logs"]["exp run"])
    assert f"A new study created in RDB with name: {name}" not in log
    assert f"{name}: continuing the study" in log
    trials = pd.read_csv(resumed["root"] / "outputs/criteria/hpo_b/trials.csv")
    done = trials[trials["state"].isin(["COMPLETE", "PRUNED"])]
    assert {n for _, n in second} <= set(done["number"]) and N_B <= len(done) == len(after)
    assert (resumed["root"] / "metrics/criteria/test.json").is_file()  # the whole pipeline ran on


def imported_modules(log: str) -> dict[str, set[str]]:
    """stage -> the psy_agents modules its process imported (PYTHONPROFILEIMPORTTIME lines after DVC's
    `Running stage '...'`)."""
    stages: dict[str, set[str]] = {}
    current = None
    for line in log.splitlines():
        if match := re.match(r"Running stage '([^']+)'", line):
            current = stages.setdefault(match.group(1), set())
        elif current is not None and (match := re.match(r"import time:.*\|\s*(psy_agents[\w.]*)\s*$", line)):
            current.add(match.group(1))
    return stages


def module_file(root: Path, module: str) -> Path:
    path = root / "src" / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def test_each_stage_lists_every_module_it_imports_and_only_what_it_uses(resumed):
    root = resumed["root"]
    runs = imported_modules(resumed["logs"]["hpo_a"] + resumed["logs"]["exp run"])
    assert {"hpo_a@criteria", "hpo_b@criteria", "hpo_c@criteria", "refit@criteria"} <= set(runs), set(runs)
    stages = load_yaml((root / "dvc.yaml").read_text())["stages"]
    for stage in ("hpo_a", "hpo_b", "hpo_c", "refit"):
        deps = [d.replace("${item}", "criteria") for d in stages[stage]["do"]["deps"]]
        code = [d for d in deps if d.startswith("src/")]
        files = {module_file(root, m).relative_to(root).as_posix() for m in runs[f"{stage}@criteria"]}
        files = {f for f in files if (root / f).read_text().strip()}  # an empty __init__.py runs nothing
        uncovered = sorted(f for f in files if not any(f == d or f.startswith(d + "/") for d in code))
        assert not uncovered, f"{stage} imports {uncovered} but dvc.yaml does not list them as deps"
        unused = [d for d in code if not any(f == d or f.startswith(d + "/") for f in files)]
        assert not unused, f"{stage} lists {unused} as deps but imports nothing from them"
        assert "psy_agents.data.demo_corpus" not in runs[f"{stage}@criteria"]
    assert not [m for m in runs["hpo_a@criteria"] if m.startswith("psy_agents.augment")]  # stage A never augments


def test_a_changed_top_k_or_code_change_starts_a_fresh_study_that_trains(resumed):
    # Last in this module: it changes the project. Stage A's top_k decides what A exports, not how its trials run:
    # A continues its study, B sees another top-K and starts afresh.
    root = resumed["root"]
    params = load_params(root / "params.yaml")
    old_a = {study for study, _ in finished_trials(root, "criteria-a-")}
    [old_b] = {study for study, _ in resumed["after"]}
    params["hpo"]["a"]["top_k"] = 2
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log = quiet(dvc(root, "repro", "hpo_b@criteria"))
    assert len(old_a) == 1 and f"{old_a.pop()}: continuing the study" in log
    b = finished_trials(root, "criteria-b-")
    [new_b] = {study for study, _ in b} - {old_b}
    assert f"{new_b}: a fresh study; since study {old_b}" in log and "changed: outputs/criteria/hpo_a/topk.json" in log
    assert len([k for k in b if k[0] == new_b]) >= N_B  # it trained its own trials
    trials = pd.read_csv(root / "outputs/criteria/hpo_b/trials.csv")
    assert trials["state"].isin(["COMPLETE", "PRUNED"]).sum() >= N_B and "hpo_a:trial" in str(trials.iloc[0].tolist())

    loop = root / "src/psy_agents/training/loop.py"
    loop.write_text(loop.read_text() + "\n# an edit of the code every trial runs\n")
    before = {study for study, _ in finished_trials(root, "criteria-a-")}
    log = quiet(dvc(root, "repro", "hpo_a@criteria"))
    a = finished_trials(root, "criteria-a-")
    [new_a] = {study for study, _ in a} - before
    assert "changed: src/psy_agents/training/loop.py" in log and f"{new_a}: a fresh study" in log
    assert len([k for k in a if k[0] == new_a]) >= 2
    exported = pd.read_csv(root / "outputs/criteria/hpo_a/trials.csv")
    done = exported[exported["state"].isin(["COMPLETE", "PRUNED"])]
    assert sorted(done["number"]) == sorted(n for s, n in a if s == new_a)  # the new trials, not the old ones
