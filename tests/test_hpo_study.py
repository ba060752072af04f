"""Study plumbing: sampler/pruner choice, study identity, the local storage, stale-trial recovery, exports."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from psy_agents.config import HpoConfig, StageAConfig, StageBConfig, StageCConfig, build
from psy_agents.errors import InputError
from psy_agents.hpo.study import (
    fail_stale_trials,
    make_pruner,
    make_sampler,
    make_storage,
    open_study,
    redact,
    study_name,
    topk,
    trials_frame,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_samplers_and_pruners_follow_the_stage_settings() -> None:
    assert isinstance(make_sampler(StageAConfig(tpe_startup=2)), optuna.samplers.TPESampler)
    assert isinstance(make_sampler(StageBConfig(population_size=4)), optuna.samplers.NSGAIISampler)
    with pytest.raises(ValueError, match="StageCConfig has no sampler"):
        make_sampler(StageCConfig())
    assert isinstance(make_pruner(StageAConfig()), optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner(StageAConfig(pruner="none")), optuna.pruners.NopPruner)
    assert make_pruner(StageBConfig()) is None  # Optuna cannot prune multi-objective trials


def test_hpo_config_rejects_inconsistent_stage_settings() -> None:
    assert HpoConfig().b.objectives == ("primary", "ece")
    with pytest.raises(InputError, match="hpo.a: objectives and directions"):
        build(HpoConfig, {"a": {"objectives": ["primary", "ece"]}}, "hpo")
    with pytest.raises(InputError, match="hpo.a.pruner: Optuna cannot prune"):
        build(HpoConfig, {"a": {"objectives": ["primary", "ece"], "directions": ["maximize", "minimize"]}}, "hpo")
    with pytest.raises(InputError, match="hpo.b.train_fraction=0"):
        build(HpoConfig, {"b": {"train_fraction": 0}}, "hpo")
    # each stage takes only its own settings: stage B has no pruner, stage C samples nothing
    with pytest.raises(InputError, match=r"hpo.b: unknown key\(s\) pruner"):
        build(HpoConfig, {"b": {"pruner": "none"}}, "hpo")
    with pytest.raises(InputError, match=r"hpo.c: unknown key\(s\) n_trials"):
        build(HpoConfig, {"c": {"n_trials": 3}}, "hpo")


def test_an_objective_the_agent_does_not_report_fails_before_training() -> None:
    from psy_agents.hpo.stages import check_objectives

    check_objectives("share", "b", StageBConfig())
    with pytest.raises(InputError, match="hpo.b.objectives: macro_f1 is not a metric of evidence"):
        check_objectives("evidence", "b", StageBConfig(objectives=("macro_f1",), directions=("maximize",)))


def test_study_name_changes_with_the_payload_only() -> None:
    payload = {"space": {"train.lr": {"type": "float", "low": 1e-5, "high": 1e-4}}, "stage": {"seed": 42}}
    same = {"stage": {"seed": 42}, "space": {"train.lr": {"type": "float", "low": 1e-5, "high": 1e-4}}}
    name = study_name("criteria", "a", payload)
    assert name.startswith("criteria-a-") and len(name) == len("criteria-a-") + 10
    assert study_name("criteria", "a", same) == name
    assert study_name("criteria", "a", {**payload, "stage": {"seed": 7}}) != name


def test_storage_urls_never_show_or_take_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    assert redact("postgresql://me:s3cret@db.example/hpo") == "postgresql://me:***@db.example/hpo"
    with pytest.raises(InputError, match="contains a password") as err:
        make_storage(HpoConfig(storage="postgresql://me:s3cret@db.example/hpo"), Path("unused"))
    assert "s3cret" not in str(err.value)
    monkeypatch.setenv("PGPASSWORD", "s3cret")
    with pytest.raises(InputError) as err:  # nothing listens on port 1
        make_storage(HpoConfig(storage="postgresql://me@127.0.0.1:1/hpo"), Path("unused"))
    assert "s3cret" not in str(err.value) and "127.0.0.1" in str(err.value)


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("train.lr", 1e-5, 1e-3, log=True)
    trial.set_user_attr("epochs", 2)
    return -abs(x - 1e-4)


def test_local_storage_keeps_trials_across_processes_and_exports_them(tmp_path: Path) -> None:
    hpo = HpoConfig()
    study = open_study("criteria-a-x", make_storage(hpo, tmp_path), make_sampler(StageAConfig()),
                       make_pruner(StageAConfig()), ["maximize"], ["primary"])
    study.optimize(_objective, n_trials=2)
    again = open_study("criteria-a-x", make_storage(hpo, tmp_path), None, None, ["maximize"])
    assert (tmp_path / "study.db").exists()
    assert [t.state for t in again.trials] == [TrialState.COMPLETE] * 2

    frame = trials_frame(again)
    assert {"number", "state", "value_primary", "params_train.lr", "user_attrs_epochs", "duration"} <= set(frame)
    ranked = topk(again, 5)
    assert [r["rank"] for r in ranked] == [1, 2]
    assert ranked[0]["value"] >= ranked[1]["value"] and ranked[0]["epochs"] == 2
    assert set(ranked[0]["params"]) == {"train.lr"}


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_trial_left_running_by_a_dead_process_is_failed_and_retried(tmp_path: Path) -> None:
    hpo = HpoConfig(heartbeat_interval=1, grace_period=1)
    dead = open_study("criteria-a-y", make_storage(hpo, tmp_path), None, None, ["maximize"])
    trial = dead.ask()
    trial.suggest_float("train.lr", 1e-5, 1e-3, log=True)
    # what the dead process's heartbeat thread last wrote before SIGKILL
    dead._storage.record_heartbeat(trial._trial_id)
    del dead
    time.sleep(2.1)  # SQLite timestamps have whole seconds: the heartbeat is now older than the grace period

    study = open_study("criteria-a-y", make_storage(hpo, tmp_path), None, None, ["maximize"])
    assert fail_stale_trials(study) == [0]
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].system_attrs["failed_trial"] == 0
    study.optimize(_objective, n_trials=1)  # runs the re-queued trial with the same parameters
    assert study.trials[1].state == TrialState.COMPLETE
    assert study.trials[1].params == study.trials[0].params


def test_search_trials_train_on_the_train_fraction_and_validate_on_every_val_post(monkeypatch, tmp_path):
    """Multi-fidelity search: every trial of a stage trains on the same seeded, stratified share of the train
    posts; validation (what trials are ranked on) stays whole."""
    import psy_agents.hpo.stages as stages

    train_posts, val_posts = [f"t{i:02d}" for i in range(40)], ["v0", "v1", "v2"]
    examples = [{"post_id": p, "symptom": "FATIGUE", "label": i % 2} for i, p in enumerate(train_posts + val_posts)]
    seen = []

    class Result:
        best_metrics, best_epoch, epochs_run = {"macro_f1": 0.5}, 1, 1

    def fake_train(run, train_ex, val_ex, **_):
        posts = {ex["post_id"] for ex in train_ex}
        seen.append((posts, {ex["post_id"] for ex in val_ex}, sum(ex["label"] for ex in train_ex)))
        return Result()

    monkeypatch.setattr(stages, "train", fake_train)
    inputs = stages.StageInputs(
        agent="criteria", sections={"model": {}, "train": {}, "augment": {}}, search={}, hpo=HpoConfig(),
        tfidf=None, examples=examples, splits={"train": train_posts, "val": val_posts}, out_dir=tmp_path,
    )
    for fraction, seed in ((0.5, 42), (0.5, 7), (1.0, 42)):
        objective, _ = stages.make_objective(inputs, "a", StageAConfig(train_fraction=fraction, seed=seed), False)
        optuna.create_study(direction="maximize").optimize(objective, n_trials=2)
    (half, val, positives), again, (other, _, _), (whole, _, _), _ = seen[0], seen[1], seen[2], seen[4], seen[5]
    assert again == seen[0] and val == set(val_posts)
    assert len(half) == 20 and positives == 10  # stratified: half of each kind of post
    assert other != half and whole == set(train_posts)
