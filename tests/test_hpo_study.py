"""Study plumbing: sampler/pruner choice, study identity, the local store, the trial budget, stale-trial recovery,
exports, and which modules each stage depends on."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import optuna
import pytest
from conftest import ROOT, defaults, repo_params, run_sections
from optuna.trial import TrialState

from psy_agents.config import HpoConfig, StageAConfig, StageBConfig, StageCConfig, load_yaml
from psy_agents.errors import InputError
from psy_agents.hpo.export import topk, trials_frame
from psy_agents.hpo.identity import agrees, changes, stage_deps, study_identity
from psy_agents.hpo.search import make_pruner, make_sampler
from psy_agents.hpo.storage import make_storage, open_study, redact
from psy_agents.hpo.workers import fail_stale, run_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_samplers_and_pruners_follow_the_stage_settings() -> None:
    assert isinstance(make_sampler(defaults(StageAConfig, tpe_startup=2)), optuna.samplers.TPESampler)
    assert isinstance(make_sampler(defaults(StageBConfig, population_size=4)), optuna.samplers.NSGAIISampler)
    with pytest.raises(ValueError, match="StageCConfig has no sampler"):
        make_sampler(defaults(StageCConfig))
    assert isinstance(make_pruner(defaults(StageAConfig, pruner="hyperband")), optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner(defaults(StageAConfig, pruner="none")), optuna.pruners.NopPruner)
    assert make_pruner(defaults(StageBConfig)) is None  # Optuna cannot prune multi-objective trials


def test_hpo_config_rejects_inconsistent_stage_settings() -> None:
    assert defaults(HpoConfig).b.objectives == ("primary", "ece")
    with pytest.raises(InputError, match="hpo.a: objectives and directions"):
        defaults(HpoConfig, a={"objectives": ["primary", "ece"]})
    with pytest.raises(InputError, match="hpo.a.pruner: Optuna cannot prune"):
        defaults(HpoConfig, a={"objectives": ["primary", "ece"], "directions": ["maximize", "minimize"],
                               "pruner": "hyperband"})
    with pytest.raises(InputError, match="hpo.b.train_fraction=0"):
        defaults(HpoConfig, b={"train_fraction": 0})
    with pytest.raises(InputError, match="use 1 <= min_resource <= max_resource"):
        defaults(HpoConfig, a={"min_resource": 4, "max_resource": 2})
    # each stage takes only its own settings: stage B has no pruner, stage C samples nothing
    with pytest.raises(InputError, match=r"hpo.b: unknown key\(s\) pruner"):
        defaults(HpoConfig, b={"pruner": "none"})
    with pytest.raises(InputError, match=r"hpo.c: unknown key\(s\) n_trials"):
        defaults(HpoConfig, c={"n_trials": 3})


def test_an_objective_the_agent_does_not_report_fails_before_training() -> None:
    from psy_agents.hpo.search import check_objectives

    check_objectives("share", "b", defaults(StageBConfig))
    with pytest.raises(InputError, match="hpo.b.objectives: macro_f1 is not a metric of evidence"):
        check_objectives("evidence", "b", defaults(StageBConfig, objectives=("macro_f1",), directions=("maximize",)))


def test_study_name_hashes_the_files_and_params_its_trials_depend_on(tmp_path: Path) -> None:
    code, topk_json = tmp_path / "code", tmp_path / "topk.json"
    code.mkdir()
    (code / "loop.py").write_text("x = 1\n")
    (code / "__pycache__").mkdir()
    (code / "__pycache__" / "loop.pyc").write_bytes(b"bytecode")
    topk_json.write_text("[]")
    deps = [str(code), str(topk_json)]
    params = {"space": {"train.lr": {"type": "float", "low": 1e-5, "high": 1e-4}}, "stage": {"seed": 42}}
    same = {"stage": {"seed": 42}, "space": {"train.lr": {"type": "float", "low": 1e-5, "high": 1e-4}}}
    first = study_identity("criteria", "b", params, deps)
    assert first.name.startswith("criteria-b-") and len(first.name) == len("criteria-b-") + 10
    assert study_identity("criteria", "b", same, deps) == first  # key order is no change
    (code / "__pycache__" / "loop.pyc").write_bytes(b"other")  # bytecode is no change either
    assert study_identity("criteria", "b", params, deps) == first

    (code / "loop.py").write_text("x = 2\n")  # the code the trials run
    edited = study_identity("criteria", "b", params, deps)
    topk_json.write_text('[{"trial": 3}]')  # stage A's top-K
    reseeded = study_identity("criteria", "b", params, deps)
    moved = study_identity("criteria", "b", {**params, "stage": {"seed": 7}}, deps)
    assert len({first.name, edited.name, reseeded.name, moved.name}) == 4
    assert changes(first.record, edited.record) == [f"{code}/loop.py"]
    assert changes(edited.record, reseeded.record) == [str(topk_json)]
    assert changes(reseeded.record, moved.record) == ["params"]
    with pytest.raises(InputError, match="not found, and the stage depends on it"):
        study_identity("criteria", "b", params, [str(tmp_path / "missing")])

    # a stage B worker may lack stage A's top-K (it trains without it): it takes the stage's, and nothing else
    topk_json.unlink()
    worker = study_identity("criteria", "b", params, deps, missing_ok=True)
    assert worker.record["files"][str(topk_json)] is None
    assert agrees(reseeded.record, worker.record) and agrees(edited.record, worker.record)
    assert not agrees(first.record, worker.record) and not agrees(moved.record, worker.record)  # code, params
    topk_json.write_text("[]")
    assert not agrees(reseeded.record, study_identity("criteria", "b", params, deps, missing_ok=True).record)


def test_a_study_hashes_exactly_the_deps_dvc_reruns_its_stage_on() -> None:
    """The study's name and DVC's reruns agree: identity.stage_deps is the stage's deps list in dvc.yaml; the package is
    one dep (tests/test_hpo_resume.py checks that the stages import nothing from outside it)."""
    stages = load_yaml((ROOT / "dvc.yaml").read_text())["stages"]
    for stage in ("a", "b"):
        listed = [d.replace("${item}", "share") for d in stages[f"hpo_{stage}"]["do"]["deps"]]
        assert stage_deps(stage, "share") == listed, stage
    for stage in ("hpo_a", "hpo_b", "hpo_c", "refit"):
        assert "persist" not in str(stages[stage]), stage  # studies live in the study store, not in DVC outs
        assert not [d for d in stages[stage]["do"]["deps"] if "tools/" in d or "tests/" in d], stage


def test_storage_urls_never_show_or_take_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    assert redact("postgresql://me:s3cret@db.example/hpo") == "postgresql://me:***@db.example/hpo"
    with pytest.raises(InputError, match="contains a password") as err:
        make_storage(defaults(HpoConfig, storage="postgresql://me:s3cret@db.example/hpo"), Path("unused"))
    assert "s3cret" not in str(err.value)
    monkeypatch.setenv("PGPASSWORD", "s3cret")
    with pytest.raises(InputError) as err:  # nothing listens on port 1
        make_storage(defaults(HpoConfig, storage="postgresql://me@127.0.0.1:1/hpo"), Path("unused"))
    assert "s3cret" not in str(err.value) and "127.0.0.1" in str(err.value)


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("train.lr", 1e-5, 1e-3, log=True)
    trial.set_user_attr("epochs", 2)
    trial.set_user_attr("metrics", {"primary": -abs(x - 1e-4), "ece": 0.1})
    return -abs(x - 1e-4)


def test_local_store_keeps_trials_across_processes_and_exports_them(tmp_path: Path) -> None:
    hpo, store = defaults(HpoConfig), tmp_path / ".studies" / "optuna.db"
    study = open_study("criteria-a-x", make_storage(hpo, store), make_sampler(defaults(StageAConfig)),
                       make_pruner(defaults(StageAConfig)), ["maximize"], ["primary"])
    study.optimize(_objective, n_trials=2)
    again = open_study("criteria-a-x", make_storage(hpo, store), None, None, ["maximize"])
    assert store.exists() and (store.parent / ".gitignore").read_text().splitlines()[-1] == "*"  # never committed
    assert [t.state for t in again.trials] == [TrialState.COMPLETE] * 2

    frame = trials_frame(again)
    assert {"number", "state", "value_primary", "params_train.lr", "user_attrs_epochs", "duration"} <= set(frame)
    assert (frame["metrics_primary"] == frame["value_primary"]).all() and (frame["metrics_ece"] == 0.1).all()
    ranked = topk(again, 5)
    assert [r["rank"] for r in ranked] == [1, 2]
    assert ranked[0]["value"] >= ranked[1]["value"] and ranked[0]["epochs"] == 2
    assert set(ranked[0]["params"]) == {"train.lr"}


def test_the_budget_counts_finished_trials_of_every_process_and_failures_cannot_loop(tmp_path: Path) -> None:
    storage = make_storage(defaults(HpoConfig), tmp_path / "optuna.db")
    study = open_study("criteria-a-budget", storage, None, None, ["maximize"])
    other = optuna.load_study(study_name="criteria-a-budget", storage=storage)  # another process, same study
    other.optimize(_objective, n_trials=2)

    def pruned_every_other(trial: optuna.Trial) -> float:
        if trial.number % 2:
            raise optuna.TrialPruned()
        return _objective(trial)

    assert run_trials(study, pruned_every_other, n_trials=5, timeout=None) == 3  # 2 elsewhere + 3 here: pruned count
    assert run_trials(study, _objective, n_trials=5, timeout=None) == 0  # full: a rerun runs nothing

    def fails(trial: optuna.Trial) -> float:
        raise InputError("impossible combination")

    assert run_trials(study, fails, n_trials=7, timeout=None) == 2  # at most the trials missing when it started
    assert [t.state for t in study.trials[-2:]] == [TrialState.FAIL] * 2


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_trial_left_running_by_a_dead_process_is_failed_and_retried(tmp_path: Path) -> None:
    hpo = defaults(HpoConfig, heartbeat_interval=1, grace_period=1)
    storage = make_storage(hpo, tmp_path / "optuna.db")
    dead = open_study("criteria-a-y", storage, None, None, ["maximize"])
    trial = dead.ask()
    trial.suggest_float("train.lr", 1e-5, 1e-3, log=True)
    # what the dead process's heartbeat thread last wrote before SIGKILL
    storage.record_heartbeat(storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name("criteria-a-y"), trial.number))
    del dead
    time.sleep(2.1)  # SQLite timestamps have whole seconds: the heartbeat is now older than the grace period

    study = open_study("criteria-a-y", make_storage(hpo, tmp_path / "optuna.db"), None, None, ["maximize"])
    assert fail_stale(study) == [0]
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].system_attrs["failed_trial"] == 0
    assert run_trials(study, _objective, n_trials=1, timeout=None) == 1  # the re-queued trial, same parameters
    assert study.trials[1].state == TrialState.COMPLETE
    assert study.trials[1].params == study.trials[0].params


def test_a_rerun_continues_its_study_and_changed_code_or_top_k_starts_a_fresh_one(monkeypatch, tmp_path, caplog):
    import psy_agents.hpo.search as hpo_search

    trained = []

    class Result:
        best_metrics, best_epoch, epochs_run = {"primary": 0.5}, 1, 1

    monkeypatch.setattr(hpo_search, "train", lambda run, *_, **__: trained.append(run.train.lr) or Result())
    code, topk_json = tmp_path / "loop.py", tmp_path / "topk.json"
    code.write_text("def train(): ...\n")
    topk_json.write_text("[]")
    posts = [f"p{i}" for i in range(6)]
    inputs = hpo_search.StageInputs(
        agent="criteria", sections=run_sections(), tfidf=None, out_dir=tmp_path,
        search={"common": {"train": {"lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}}}},
        hpo=defaults(HpoConfig, a={"n_trials": 2, "tpe_startup": 1, "pruner": "none", "train_fraction": 1.0}),
        examples=[{"post_id": p, "symptom": "FATIGUE", "label": i % 2} for i, p in enumerate(posts)],
        splits={"train": posts[:4], "val": posts[4:]}, deps=(str(code), str(topk_json)), store=tmp_path / "o.db",
    )
    first, _ = hpo_search.run_search(inputs, "a", progress=False)
    again, _ = hpo_search.run_search(inputs, "a", progress=False)  # unchanged inputs: the study is complete
    assert again.study_name == first.study_name and len(trained) == 2 and len(again.trials) == 2

    names = [first.study_name]
    for changed in (code, topk_json):
        changed.write_text(changed.read_text() + " ")
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="psy_agents.hpo.identity"):
            fresh, _ = hpo_search.run_search(inputs, "a", progress=False)
        assert fresh.study_name not in names and len(fresh.trials) == 2  # it trained its own trials
        assert f"a fresh study; since study {names[-1]} (2 trials, kept in the storage) changed: {changed}" \
            in caplog.text
        names.append(fresh.study_name)
    assert len(trained) == 6
    assert sorted(optuna.get_all_study_names(f"sqlite:///{tmp_path / 'o.db'}")) == sorted(names)


def test_search_trials_train_on_the_train_fraction_and_validate_on_every_val_post(monkeypatch, tmp_path):
    """Multi-fidelity search: every trial of a stage trains on the same seeded, stratified share of the train
    posts; validation (what trials are ranked on) stays whole."""
    import psy_agents.hpo.search as hpo_search

    train_posts, val_posts = [f"t{i:02d}" for i in range(40)], ["v0", "v1", "v2"]
    examples = [{"post_id": p, "symptom": "FATIGUE", "label": i % 2} for i, p in enumerate(train_posts + val_posts)]
    seen = []

    class Result:
        best_metrics, best_epoch, epochs_run = {"primary": 0.5}, 1, 1

    def fake_train(run, train_ex, val_ex, **_):
        posts = {ex["post_id"] for ex in train_ex}
        seen.append((posts, {ex["post_id"] for ex in val_ex}, sum(ex["label"] for ex in train_ex)))
        return Result()

    monkeypatch.setattr(hpo_search, "train", fake_train)
    inputs = hpo_search.StageInputs(
        agent="criteria", sections=run_sections(), search={}, hpo=defaults(HpoConfig),
        tfidf=None, examples=examples, splits={"train": train_posts, "val": val_posts}, out_dir=tmp_path,
    )
    for fraction, seed in ((0.5, 42), (0.5, 7), (1.0, 42)):
        stage = defaults(StageAConfig, train_fraction=fraction, seed=seed)
        objective, _ = hpo_search.make_objective(inputs, "a", stage, False)
        optuna.create_study(direction="maximize").optimize(objective, n_trials=2)
    (half, val, positives), again, (other, _, _), (whole, _, _), _ = seen[0], seen[1], seen[2], seen[4], seen[5]
    assert again == seen[0] and val == set(val_posts)
    assert len(half) == 20 and positives == 10  # stratified: half of each kind of post
    assert other != half and whole == set(train_posts)


def test_stage_a_trials_train_max_resource_epochs_on_one_schedule_horizon(monkeypatch, tmp_path, tiny_backbone):
    """Every stage A trial, the params.yaml seed included, trains hpo.a.max_resource epochs with early stopping off,
    whatever params and the search say: each LR schedule spans exactly those epochs, so Hyperband's rungs compare
    trials at the same point of their schedules."""
    from conftest import tiny_examples

    import psy_agents.hpo.search as hpo_search
    import psy_agents.training.loop as loop

    schedules = []
    build_scheduler = loop.build_scheduler

    def spy(optimizer, cfg, num_training_steps):
        schedules.append((cfg, num_training_steps, build_scheduler(optimizer, cfg, num_training_steps)))
        return schedules[-1][2]

    monkeypatch.setattr(loop, "build_scheduler", spy)
    criteria, _ = tiny_examples()
    posts = sorted({ex["post_id"] for ex in criteria})
    search = {"common": {"train": {"lr": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True},
                                   "epochs": {"type": "int", "low": 1, "high": 2},
                                   "patience": {"type": "int", "low": 1, "high": 2}}}}
    inputs = hpo_search.StageInputs(
        agent="criteria", search=search, hpo=defaults(HpoConfig, a={"max_resource": 3, "pruner": "none"}), tfidf=None,
        sections=run_sections({"model.backbone": tiny_backbone, "model.max_length": 160, "model.head_hidden": 16,
                               "train.epochs": 1, "train.patience": 1, "train.threads": 1, "train.precision": "fp32"}),
        examples=criteria, splits={"train": posts[:14], "val": posts[14:]}, out_dir=tmp_path,
    )
    objective, space = hpo_search.make_objective(inputs, "a", inputs.hpo.a, progress=False)
    assert list(space) == ["train.lr"]
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(hpo_search.default_seed(inputs, "a")["params"])
    study.optimize(objective, n_trials=2)
    assert [t.user_attrs["epochs"] for t in study.trials] == [3, 3]
    assert len(schedules) == 2
    for cfg, steps, scheduler in schedules:
        assert (cfg.epochs, cfg.patience) == (3, 0)
        assert scheduler.last_epoch == steps  # the schedule ends with the last step of epoch max_resource
    # stage B fixes its own horizon (hpo.b.epochs), or nothing: the sampled or base epochs train, early stopping on
    assert hpo_search.stage_fixed(defaults(StageBConfig, epochs=2)) == {"train.epochs": 2, "train.patience": 0}
    assert hpo_search.stage_fixed(defaults(StageBConfig, epochs=None)) == {}


def test_stage_b_seeds_keep_the_horizon_stage_a_scored_them_at_where_b_can_take_it() -> None:
    import psy_agents.hpo.search as hpo_search

    ranked = [{"trial": 4, "epochs": 8, "params": {"train.lr": 1e-4}}]
    epochs = {"type": "int", "low": 3, "high": 8}
    inputs = hpo_search.StageInputs(agent="criteria", sections={}, hpo=defaults(HpoConfig, b={"epochs": None}),
                                    tfidf=None, examples=[], splits={}, out_dir=Path("unused"),
                                    search={"criteria": {"train": {"epochs": epochs}}})
    assert hpo_search.seeds_from_a(inputs, ranked) == [
        {"params": {"train.lr": 1e-4, "train.epochs": 8}, "source": "hpo_a:trial4", "trained": {"epochs": 8}}]
    inputs.search["criteria"]["train"]["epochs"] = {**epochs, "high": 4}  # 8 is outside: B's sampler draws it
    assert hpo_search.seeds_from_a(inputs, ranked)[0]["params"] == {"train.lr": 1e-4}
    inputs.search = {}  # B does not search epochs: the base config's train
    assert hpo_search.seeds_from_a(inputs, ranked)[0]["params"] == {"train.lr": 1e-4}
    inputs.search["criteria"] = {"train": {"epochs": epochs}}
    inputs.hpo = defaults(HpoConfig, b={"epochs": 2})  # B's own horizon: every trial trains 2 epochs
    assert hpo_search.seeds_from_a(inputs, ranked)[0]["params"] == {"train.lr": 1e-4}


def test_stage_a_best_enters_stage_b_with_params_augmentation_the_others_sample_it() -> None:
    import psy_agents.hpo.search as hpo_search

    params = repo_params()
    ranked = [{"trial": 4, "epochs": 2, "params": {"train.lr": 5e-4}}, {"trial": 1, "epochs": 2, "params": {}}]
    inputs = hpo_search.StageInputs(agent="evidence", sections=params, hpo=defaults(HpoConfig), tfidf=None,
                                    examples=[], splits={}, out_dir=Path("unused"), search=params["search"])
    first, second = hpo_search.seeds_from_a(inputs, ranked)
    augment = {f"augment.{k}": params["augment"][k] for k in params["search"]["augment"]["augment"]}
    assert augment["augment.p_apply"] == 0.0  # params.yaml: no augmentation
    assert first["params"] == {"train.lr": 5e-4, **augment} and first["source"] == "hpo_a:trial4"
    assert not any(key.startswith("augment.") for key in second["params"])  # drawn by stage B's sampler


def test_stage_c_fits_refit_thresholds_on_pooled_out_of_fold_predictions(tmp_path, monkeypatch):
    """Refit has no held-out split: its thresholds come from the winner's fold models' predictions of their own
    validation parts, pooled over folds, and never from a fold's training rows."""
    import psy_agents.hpo.crossval as hpo_crossval
    from psy_agents.evaluation.scoring import fit_thresholds

    posts = [f"p{i}" for i in range(6)]
    folds = [{"train": posts[2:], "val": posts[:2]}, {"train": posts[:2] + posts[4:], "val": posts[2:4]},
             {"train": posts[:4], "val": posts[4:]}]
    examples = [{"post_id": p, "sentence_id": 0, "symptom": "FATIGUE", "label": i % 2} for i, p in enumerate(posts)]

    def fake_train(run, train_ex, val_ex, **_):
        assert not {e["post_id"] for e in train_ex} & {e["post_id"] for e in val_ex}

        class Result:
            best_metrics, best_epoch, epochs_run = {"primary": 0.5}, 1, 1
            # a fold model's predictions of its own validation part
            best_predictions = [{**e, "logit": 2.0 * e["label"] - 1.0 + 0.1 * int(e["post_id"][1:])} for e in val_ex]
        return Result()

    monkeypatch.setattr(hpo_crossval, "train", fake_train)
    inputs = hpo_crossval.StageInputs(
        agent="criteria", sections=run_sections(), search={}, hpo=defaults(HpoConfig),
        tfidf=None, examples=examples, splits={"train": posts[:4], "val": posts[4:], "folds": folds},
        out_dir=tmp_path,
    )
    cv = hpo_crossval.cross_validate(inputs, [{"trial": 0, "params": {}}], progress=False)
    oof = [{**e, "logit": 2.0 * e["label"] - 1.0 + 0.1 * int(e["post_id"][1:])} for f in folds for e in examples
           if e["post_id"] in f["val"]]
    assert cv["candidates"][0]["thresholds"] == fit_thresholds("criteria", oof, False).to_dict()


def test_stage_c_leaves_out_a_candidate_that_diverges_and_fails_clearly_when_all_do(tmp_path, monkeypatch):
    """A Pareto config whose loss goes NaN on one fold cannot win stage C, and does not stop the stage; if every
    candidate diverges, the stage stops with a one-line InputError, not a traceback."""
    import psy_agents.hpo.crossval as hpo_crossval
    from psy_agents.training.loop import DivergedError

    posts = [f"p{i}" for i in range(4)]
    folds = [{"train": posts[2:], "val": posts[:2]}, {"train": posts[:2], "val": posts[2:]}]
    examples = [{"post_id": p, "sentence_id": 0, "symptom": "FATIGUE", "label": i % 2} for i, p in enumerate(posts)]

    def fake_train(run, train_ex, val_ex, **_):
        if run.train.lr > 0.01 and val_ex[0]["post_id"] == "p2":  # the second fold of the unstable config
            raise DivergedError("loss is nan at epoch 1, step 3")

        class Result:
            best_metrics, best_epoch, epochs_run = {"primary": 0.9 if run.train.lr > 0.01 else 0.4}, 1, 2
            best_predictions = [{**e, "logit": 1.0} for e in val_ex]
        return Result()

    monkeypatch.setattr(hpo_crossval, "train", fake_train)
    inputs = hpo_crossval.StageInputs(
        agent="criteria", sections=run_sections(), search={}, hpo=defaults(HpoConfig, c={"candidates": 2}),
        tfidf=None, examples=examples, splits={"train": posts[:2], "val": posts[2:], "folds": folds},
        out_dir=tmp_path,
    )
    unstable, stable = {"trial": 3, "params": {"train.lr": 0.5}}, {"trial": 5, "params": {"train.lr": 1e-4}}
    cv = hpo_crossval.cross_validate(inputs, [unstable, stable], progress=False)
    assert cv["winner"] == 5 and cv["diverged"] == [3]
    assert [c["trial"] for c in cv["candidates"]] == [5] and cv["candidates"][0]["epochs"] == [2, 2]
    with pytest.raises(InputError, match="every candidate"):
        hpo_crossval.cross_validate(inputs, [unstable], progress=False)


def test_stage_b_breeds_its_second_generation_from_the_enqueued_seeds():
    """NSGA-II never samples an enqueued trial (every value is fixed), so without record_generation stage A's top-K
    would sit outside its generations and generation 0 would be random draws; with it, the seeds are generation 0
    and every trial after population_size is bred from them (generation 1), as trials.csv's `generation` shows."""
    from psy_agents.hpo.search import enqueue_once, record_generation

    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=make_sampler(defaults(StageBConfig, population_size=2, seed=1)))
    for i, x in enumerate((0.1, 0.9)):
        enqueue_once(study, {"x": x, "c": "a"}, f"hpo_a:trial{i}")

    def objective(trial):
        x, c = trial.suggest_float("x", 0.0, 1.0), trial.suggest_categorical("c", ["a", "b", "c", "d"])
        record_generation(trial)
        return x, abs(x - 0.5) + (c != "a")

    study.optimize(objective, n_trials=4)
    assert [t.user_attrs["generation"] for t in study.trials] == [0, 0, 1, 1]
    assert [t.user_attrs.get("source") for t in study.trials[:2]] == ["hpo_a:trial0", "hpo_a:trial1"]


def test_stage_b_takes_over_stage_a_result_for_a_seed_it_would_train_unchanged(monkeypatch, tmp_path):
    """At stage A's fidelity (hpo.b.epochs = hpo.a.max_resource, the same train share), stage B's first seed is
    stage A's best run exactly as A trained it (params.yaml's augmentation: none): B takes A's result over (user
    attr `reused`), trains the other trials, and counts only the epochs it trained. At another horizon it trains
    the seed again."""
    import psy_agents.augment.policy as policy
    import psy_agents.hpo.search as hpo_search
    from psy_agents.hpo.export import epochs_trained

    trained = []

    class Result:
        best_epoch = epochs_run = 1

        def __init__(self, run):
            self.best_metrics = {"primary": run.train.lr * 1000, "ece": run.augment.p_apply if run.augment else 0.0}

    monkeypatch.setattr(hpo_search, "train", lambda run, *_, **__: trained.append(run) or Result(run))
    monkeypatch.setattr(policy, "augmenter_for", lambda run: None)  # nlpaug's resources are not the point here
    posts = [f"p{i}" for i in range(8)]
    search = {"common": {"train": {"lr": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True}}},
              "augment": {"augment": {"p_apply": {"type": "float", "low": 0.0, "high": 0.5}}}}
    stages = {"a": {"n_trials": 3, "tpe_startup": 3, "pruner": "none", "max_resource": 1, "train_fraction": 1.0,
                    "top_k": 2},
              "b": {"n_trials": 3, "population_size": 2, "epochs": 1, "train_fraction": 1.0}}
    inputs = hpo_search.StageInputs(
        agent="criteria", sections=run_sections(), search=search, hpo=defaults(HpoConfig, **stages), tfidf=None,
        examples=[{"post_id": p, "symptom": "FATIGUE", "label": i % 2} for i, p in enumerate(posts)],
        splits={"train": posts[:6], "val": posts[6:]}, out_dir=tmp_path, store=tmp_path / "o.db",
    )
    study_a, _ = hpo_search.run_search(inputs, "a", progress=False)
    ranked = topk(study_a, 2)
    assert len(trained) == 3 and ranked[0]["metrics"] == {"primary": ranked[0]["value"], "ece": 0.0}

    study_b, _ = hpo_search.run_search(inputs, "b", progress=False, enqueue=hpo_search.seeds_from_a(inputs, ranked))
    seed, other, bred = study_b.trials
    assert seed.user_attrs["reused"] and seed.user_attrs["source"] == f"hpo_a:trial{ranked[0]['trial']}"
    assert seed.values == [ranked[0]["value"], 0.0]
    assert seed.user_attrs["run_digest"] == study_a.trials[ranked[0]["trial"]].user_attrs["run_digest"]
    assert "reused" not in other.user_attrs and "reused" not in bred.user_attrs
    assert len(trained) == 5 and epochs_trained(study_b) == 2
    # the study holds what the seeds trained, so any process running it (a `psy-agents worker`) takes it over too
    worker_objective, _ = hpo_search.make_objective(inputs, "b", inputs.hpo.b, progress=False)
    study_b.enqueue_trial(seed.params)
    study_b.optimize(worker_objective, n_trials=1)
    assert study_b.trials[-1].user_attrs["reused"] and len(trained) == 5

    inputs.hpo = defaults(HpoConfig, **{**stages, "b": {**stages["b"], "epochs": 2}})
    study_b2, _ = hpo_search.run_search(inputs, "b", progress=False, enqueue=hpo_search.seeds_from_a(inputs, ranked))
    assert study_b2.study_name != study_b.study_name and len(trained) == 8
    assert not any(t.user_attrs.get("reused") for t in study_b2.trials)
