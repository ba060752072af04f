"""params.yaml is the one source of settings: every key required once, every choice checked at load, and one
builder of run configs for the CLI, the trials, CV and refit."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from conftest import ROOT, SECTION_OF, defaults, repo_params
from ruamel.yaml import YAML

from psy_agents import config
from psy_agents.config import AugmentConfig, InputError, TrainConfig, build, load_params, parse_override, run_config

LITERALS = [(cls, name, tp) for cls in SECTION_OF for name, tp in typing.get_type_hints(cls).items()
            if typing.get_origin(tp) is typing.Literal]


@pytest.mark.parametrize("cls", list(SECTION_OF), ids=lambda cls: SECTION_OF[cls])
def test_params_yaml_holds_every_setting_and_a_missing_one_is_named(cls):
    values = dataclasses.asdict(defaults(cls))  # builds: params.yaml has every key of every section
    name = next(iter(values))
    del values[name]
    with pytest.raises(InputError, match=rf"^{SECTION_OF[cls]}: missing key\(s\) {name}; params.yaml holds"):
        build(cls, values, SECTION_OF[cls])


def test_a_params_yaml_without_a_key_is_a_one_line_error(tmp_path, capsys):
    from psy_agents.cli import main

    params = repo_params()
    del params["model"]["pooling"]
    path = tmp_path / "params.yaml"
    YAML(typ="safe", pure=True).dump(params, path)
    with pytest.raises(SystemExit) as exc:
        main(["train", "--agent", "criteria", "--out", str(tmp_path / "run"), "--params", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and err == [
        "error: model: missing key(s) pooling; params.yaml holds every setting, add it there"]


@pytest.mark.parametrize(("cls", "name", "tp"), LITERALS, ids=[f"{SECTION_OF[c]}.{n}" for c, n, _ in LITERALS])
def test_a_value_outside_a_choice_field_names_the_key_and_the_choices(cls, name, tp):
    with pytest.raises(InputError) as err:
        defaults(cls, **{name: "nope"})
    assert str(err.value) == f"{SECTION_OF[cls]}.{name}: 'nope' is not a choice; use one of " \
                             f"{' | '.join(typing.get_args(tp))}"


def test_choice_implementations_cover_the_choices():
    from transformers import SchedulerType

    from psy_agents.models.heads import ACTIVATIONS
    from psy_agents.training.optim import OPTIMIZERS

    assert tuple(ACTIVATIONS) == typing.get_args(config.Activation)
    assert tuple(OPTIMIZERS) == typing.get_args(config.Optimizer)
    assert set(typing.get_args(config.Scheduler)) <= {s.value for s in SchedulerType}
    with pytest.raises(InputError, match=r"hpo.a.directions\[0\]: 'up' is not a choice; use one of maximize"):
        defaults(config.HpoConfig, a={"directions": ["up"]})


def test_unknown_key_and_bad_override_are_one_line_errors():
    with pytest.raises(InputError, match="unknown key"):
        defaults(TrainConfig, lrr=1.0)
    with pytest.raises(InputError, match="not valid YAML"):
        parse_override("train.lr=[")
    assert parse_override("train.lr=1.0e-4") == ("train.lr", 1e-4)


def test_params_are_read_as_dvc_writes_them(tmp_path):
    # `dvc exp run -S` rewrites params.yaml by YAML 1.2 rules and leaves `no` unquoted; it must stay a word.
    path = tmp_path / "params.yaml"
    path.write_text("augment:\n  reserved_words: [not, no, never]\ntrain:\n  lr: 1e-4\n", encoding="utf-8")
    params = load_params(path)
    assert defaults(AugmentConfig, reserved_words=params["augment"]["reserved_words"]).reserved_words == (
        "not", "no", "never")
    assert defaults(TrainConfig, lr=params["train"]["lr"]).lr == pytest.approx(1e-4)
    path.write_bytes(b"train:\n  lr: 1e-4 \xff\n")
    with pytest.raises(InputError, match="is not UTF-8"):
        load_params(path)
    with pytest.raises(InputError, match=r"augment.reserved_words\[1\]: expected a string, got False"):
        defaults(AugmentConfig, reserved_words=["not", False])


def test_the_cli_trains_what_a_trial_with_the_same_values_trains(monkeypatch, tmp_path):
    """`psy-agents train --set augment.p_apply=0.3` and a stage B trial that samples 0.3 build one RunConfig
    (augmentation on in both), through the one builder, run_config."""
    from optuna.trial import FixedTrial

    import psy_agents.augment.policy as policy
    import psy_agents.cli as cli
    import psy_agents.hpo.search as hpo_search
    import psy_agents.training.loop as loop

    runs = []

    class Trained(Exception):
        pass

    def fake_train(run, *_, **__):
        runs.append(run)
        raise Trained

    monkeypatch.setattr(policy, "augmenter_for", lambda run: None)  # nlpaug's resources are not the point here
    monkeypatch.setattr(loop, "train", fake_train)
    monkeypatch.setattr(hpo_search, "train", fake_train)
    posts = [f"p{i}" for i in range(20)]  # enough train posts for hpo.b.train_fraction to keep some
    examples = [{"post_id": p, "symptom": "FATIGUE", "label": i % 2} for i, p in enumerate(posts)]
    monkeypatch.setattr(cli, "load_examples", lambda agent: examples)
    monkeypatch.setattr(cli, "load_splits", lambda: {"train": posts[:15], "val": posts[15:]})
    with pytest.raises(Trained):
        cli.main(["train", "--agent", "share", "--out", str(tmp_path / "run"), "--set", "augment.p_apply=0.3",
                  "--params", str(ROOT / "params.yaml")])

    params = repo_params()
    inputs = hpo_search.StageInputs(
        agent="share", sections={k: params[k] for k in ("model", "train", "augment")},
        hpo=defaults(config.HpoConfig, b={"epochs": None}),  # no horizon: the trial trains params' epochs too
        search={"augment": {"augment": {"p_apply": {"type": "float", "low": 0.0, "high": 0.5}}}}, tfidf=None,
        examples=examples, splits={"train": posts[:15], "val": posts[15:]}, out_dir=tmp_path,
    )
    objective, _ = hpo_search.make_objective(inputs, "b", inputs.hpo.b, progress=False)
    with pytest.raises(Trained):
        objective(FixedTrial({"augment.p_apply": 0.3}))
    cli_run, trial_run = runs
    assert cli_run == trial_run == run_config("share", params, {"augment.p_apply": 0.3})
    assert cli_run.augment.enabled and cli_run.augment.p_apply == 0.3
    assert not run_config("share", params).augment.enabled  # params.yaml alone never augments
    # an explicit augment.enabled wins over the rule
    assert not run_config("share", params, {"augment.p_apply": 0.3, "augment.enabled": False}).augment.enabled


def test_agent_defaults_reach_every_entry_point(monkeypatch):
    """agent_defaults are set in run_config, so `psy-agents train` (run_config over params.yaml), every HPO stage's
    trials and candidates and refit (run_config over stage_inputs' sections) train the same values."""
    import psy_agents.hpo.inputs as hpo_inputs

    monkeypatch.setattr(hpo_inputs, "load_examples", lambda agent: [])
    monkeypatch.setattr(hpo_inputs, "load_splits", lambda: {})
    params = repo_params()
    assert set(params["agent_defaults"]) == set(config.AGENTS)  # dvc.yaml's stages read agent_defaults.<agent>
    for agent, key, value in (("criteria", "batch_size", 16), ("evidence", "epochs", 4),
                              ("share", "batch_size", params["train"]["batch_size"])):
        assert getattr(run_config(agent, params).train, key) == value
        assert getattr(run_config(agent, params, {f"train.{key}": 3}).train, key) == 3  # an override still wins
        for stage in "abc":
            inputs = hpo_inputs.stage_inputs(agent, stage, str(ROOT / "params.yaml"))
            assert list(inputs.sections["agent_defaults"]) == [agent]  # its own part only: what its study hashes
            assert getattr(run_config(agent, inputs.sections).train, key) == value
        assert (f"train.{key}" in inputs.space("b")) == (agent == "share")  # a default is not searched


@pytest.mark.parametrize(("section", "message"), [
    ({"oracle": {}}, "params.yaml agent_defaults: unknown agent(s) oracle"),
    ({"criteria": {"augment": {"p_apply": 0.1}}}, "params.yaml agent_defaults.criteria.augment: expected model"),
    ({"criteria": {"train": {"batchsize": 16}}}, "params.yaml agent_defaults.criteria.train: unknown key(s) batchsize"),
    ({"criteria": {"train": {"batch_size": "big"}}}, "train.batch_size: expected int, got 'big'"),
    ({"criteria": 16}, "params.yaml agent_defaults.criteria: expected model: {...} and/or train: {...}, got 16"),
])
def test_a_bad_agent_defaults_section_is_one_clear_error(section, message):
    with pytest.raises(InputError) as err:
        run_config("criteria", {**repo_params(), "agent_defaults": section})
    assert str(err.value).startswith(message)
