"""End to end: `dvc repro` of the whole DAG on smoke params (tiny random BERT, small synthetic release).

The smoke setting is the documented way to exercise every stage in minutes: params.yaml with a tiny backbone,
two trials per search stage, one or two epochs, two folds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pandas as pd

import pytest
import yaml
from conftest import ROOT, synthetic_release, write_release
from tiny import save_tiny_backbone

from psy_agents.config import load_params
from psy_agents.hpo.space import space_for

AGENTS = ["criteria", "share"]  # evidence and joint run through the same stages; kept out for the suite's time


SMOKE_LR = 2e-3


def smoke_params(backbone: str) -> dict:
    params = load_params(ROOT / "params.yaml")
    params["data"]["source"] = "redsm5"
    params["split"]["folds"] = 2
    params["agents"] = AGENTS
    params["model"].update(backbone=backbone, num_layers=None, max_length=160, doc_stride=16, head_hidden=16)
    params["train"].update(epochs=2, batch_size=16, lr=SMOKE_LR, precision="fp32")
    common = params["search"]["common"]
    common["model"]["backbone"]["choices"] = [backbone]
    common["train"]["epochs"] = {"type": "int", "low": 1, "high": 2}
    common["train"]["freeze_layers"] = {"type": "int", "low": 0, "high": 1}
    for agent in ("criteria", "evidence", "share", "joint"):
        model_part = params["search"].get(agent, {}).get("model", {})
        model_part.pop("max_length", None)
        model_part.pop("doc_stride", None)
        model_part.pop("num_layers", None)  # the tiny backbone has 2 layers
        for key in ("epochs", "neg_ratio"):  # the common ranges apply: small epochs for the suite's time
            params["search"].get(agent, {}).get("train", {}).pop(key, None)
            (params["agent_defaults"].get(agent) or {}).get("train", {}).pop(key, None)
    for stage in ("a", "b"):
        params["hpo"][stage]["n_trials"] = 2
    params["hpo"]["a"].update(tpe_startup=1, max_resource=2)
    params["hpo"]["b"]["population_size"] = 2
    params["hpo"]["a"]["top_k"] = 1
    params["hpo"]["c"]["candidates"] = 1
    return params


def dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(os.sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True, env=env)


def smoke_project(root: Path, params: dict | None = None) -> Path:
    """A fresh git + DVC project in `root` with the pipeline's code, a tiny backbone and a synthetic release."""
    for name in ("dvc.yaml", "stages", "src"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name, **({"ignore": shutil.ignore_patterns("__pycache__", "*.egg-info")} if src.is_dir() else {}))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    assert dvc(root, "init", "-q").returncode == 0
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "commit", "-qm", "init"], cwd=root, check=True)  # dvclive reads the HEAD revision
    write_release(root / "data" / "redsm5", *synthetic_release(60))
    backbone = save_tiny_backbone(root / "tiny-bert")
    merged = smoke_params(backbone)
    for section, values in (params or {}).items():
        merged[section] = {**merged[section], **values} if isinstance(values, dict) else values
    (root / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Path:
    root = smoke_project(tmp_path_factory.mktemp("project"))
    result = dvc(root, "repro")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


def test_whole_dag_runs_and_writes_every_contract_output(pipeline):
    for agent in AGENTS:
        for path in (f"outputs/{agent}/hpo_a/topk.json", f"outputs/{agent}/hpo_a/trials.csv",
                     f"outputs/{agent}/hpo_a/summary.json", f"outputs/{agent}/hpo_b/summary.json",
                     f"outputs/{agent}/hpo_b/pareto.json", f"outputs/{agent}/hpo_c/cv.json",
                     f"outputs/{agent}/hpo_c/best.yaml", f"models/{agent}/agent.safetensors",
                     f"outputs/{agent}/refit/report.html", f"outputs/{agent}/refit/test_metrics.json",
                     f"metrics/{agent}/test.json", f"metrics/{agent}/baseline.json",
                     f"outputs/{agent}/baseline/report.json", "outputs/groundtruth/report.json"):
            assert (pipeline / path).is_file(), path
        assert list((pipeline / f"outputs/{agent}/refit/dvclive/plots/metrics").rglob("*.tsv"))


def test_stage_a_starts_from_params_defaults_and_b_from_a_topk(pipeline):
    for agent in AGENTS:
        first_a = pd.read_csv(pipeline / f"outputs/{agent}/hpo_a/trials.csv").sort_values("number").iloc[0]
        assert first_a["user_attrs_source"] == "params.yaml"
        assert first_a["params_train.optimizer"] == "adamw"  # params.yaml's train.optimizer
        # the smoke train.lr lies outside the searched range, so the sampler drew one inside it
        lr = space_for(load_params(ROOT / "params.yaml")["search"], agent, "a")["train.lr"]
        assert not lr["low"] <= SMOKE_LR <= lr["high"]
        assert lr["low"] <= float(first_a["params_train.lr"]) <= lr["high"]
        topk = json.loads((pipeline / f"outputs/{agent}/hpo_a/topk.json").read_text())
        trials = pd.read_csv(pipeline / f"outputs/{agent}/hpo_b/trials.csv")
        first = trials.sort_values("number").iloc[0]
        assert first["user_attrs_source"] == f"hpo_a:trial{topk[0]['trial']}"
        for key, value in topk[0]["params"].items():
            assert str(first[f"params_{key}"]) == str(value)


def test_cv_scores_are_real_per_fold_results(pipeline):
    cv = json.loads((pipeline / "outputs/criteria/hpo_c/cv.json").read_text())
    [candidate] = cv["candidates"]
    assert len(candidate["fold_scores"]) == 2
    assert candidate["fold_scores"][0] != candidate["fold_scores"][1]


def test_second_repro_is_a_noop_and_metrics_show(pipeline):
    result = dvc(pipeline, "repro")
    assert result.returncode == 0
    assert "didn't change" in result.stdout or "up to date" in result.stdout
    shown = dvc(pipeline, "metrics", "show", "--json")
    assert shown.returncode == 0 and "test.json" in shown.stdout
    # headline numbers only, under keys the files share: the table (one column per key) fits a 160-column terminal
    table = dvc(pipeline, "metrics", "show").stdout.splitlines()
    assert len(table) == 1 + 1 + 5 * len(AGENTS) and max(map(len, table)) <= 160, "\n".join(table)
    test = json.loads((pipeline / "metrics/criteria/test.json").read_text())
    assert set(test) == {"primary", "low", "high", "vs_tfidf", "vs_low", "vs_high", "ece"}
    assert test["primary"] == round(json.loads((pipeline / "outputs/criteria/refit/test_metrics.json").read_text())[
        "primary"], 4)


def test_changing_stage_c_params_leaves_stages_a_and_b_alone(pipeline):
    status = dvc(pipeline, "status", "--json")
    assert json.loads(status.stdout or "{}") == {}
    params = load_params(pipeline / "params.yaml")
    params["hpo"]["c"]["candidates"] += 1
    (pipeline / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = set(json.loads(dvc(pipeline, "status", "--json").stdout))
    # refit follows through its dependency on best.yaml once hpo_c has rerun
    assert changed == {f"hpo_c@{a}" for a in AGENTS}


def finished_trials(db: Path) -> dict[int, str]:
    """trial number -> params JSON of COMPLETE/PRUNED trials, read straight from the study's SQLite file."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT t.number, group_concat(p.param_name || '=' || p.param_value, ';') FROM trials t "
            "LEFT JOIN trial_params p ON p.trial_id = t.trial_id WHERE t.state IN ('COMPLETE', 'PRUNED') "
            "GROUP BY t.trial_id"
        ).fetchall()
    return dict(rows)


def test_killed_stage_a_continues_its_study_on_rerun(tmp_path):
    hpo = load_params(ROOT / "params.yaml")["hpo"]
    root = smoke_project(tmp_path, {
        "agents": ["criteria"],
        "hpo": {**hpo, "heartbeat_interval": 1, "grace_period": 2,
                "a": {**hpo["a"], "n_trials": 5, "tpe_startup": 1, "max_resource": 2}},
    })
    db = root / ".studies/optuna.db"  # the local study store (psy_agents.hpo.storage), no DVC out
    env = {**os.environ, "PATH": f"{Path(os.sys.executable).parent}:{os.environ['PATH']}"}
    assert dvc(root, "repro", "groundtruth").returncode == 0
    proc = subprocess.Popen(["dvc", "repro", "hpo_a@criteria"], cwd=root, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and (not db.exists() or len(finished_trials(db)) < 2):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the stage and its trial die mid-study
    proc.wait()
    before = finished_trials(db)
    assert 2 <= len(before) < 5, before
    time.sleep(3)  # past hpo.grace_period: the killed RUNNING trial is stale

    result = dvc(root, "repro", "hpo_a@criteria")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    after = finished_trials(db)
    assert {n: after[n] for n in before} == before  # every completed trial is still there, unchanged
    assert len(after) == 5  # and the study was completed, not restarted
    trials = pd.read_csv(root / "outputs/criteria/hpo_a/trials.csv")
    assert (trials["state"] == "FAIL").sum() <= 1  # the trial the kill interrupted, marked failed by its heartbeat


def test_declared_plots_render(pipeline, tmp_path):
    result = dvc(pipeline, "plots", "show", "-o", str(tmp_path / "plots"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "plots" / "index.html").is_file()
    shown = dvc(pipeline, "plots", "show", "--json")
    data = json.loads(shown.stdout)
    # each agent's stages declare its plots, so the smoke run's agents (a subset) leave no plot file missing
    assert not data.get("errors"), data["errors"]
    plotted = set(data.get("data", data))
    for agent in AGENTS:
        for path in ("hpo_a/trials.csv", "hpo_b/trials.csv", "refit/dvclive/plots/metrics/train/loss.tsv",
                     "refit/dvclive/plots/sklearn/confusion.json", "refit/dvclive/plots/sklearn/pr.json"):
            assert f"outputs/{agent}/{path}" in plotted, (path, plotted)


def test_exp_run_with_more_stage_a_trials(pipeline):
    # Last in this module: it changes the project's workspace.
    result = dvc(pipeline, "exp", "run", "-S", "hpo.a.n_trials=3", "hpo_a@criteria")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    trials = pd.read_csv(pipeline / "outputs/criteria/hpo_a/trials.csv")
    assert trials["state"].isin(["COMPLETE", "PRUNED"]).sum() == 3
    hpo_a = json.loads((pipeline / "metrics/criteria/hpo_a.json").read_text())
    assert hpo_a["complete"] + hpo_a["pruned"] == 3
    shown = json.loads(dvc(pipeline, "exp", "show", "--json").stdout)
    assert "3" in json.dumps(shown) and "n_trials" in json.dumps(shown)
    # DVC rewrote params.yaml (YAML 1.2, `no` unquoted); the stages still read the negation as a word
    assert "\n  - no\n" in (pipeline / "params.yaml").read_text()
    assert "no" in load_params(pipeline / "params.yaml")["augment"]["reserved_words"]
