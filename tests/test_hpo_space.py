"""The search space declared in params.yaml: validation, merging of parts, conditional sampling."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from conftest import defaults, repo_params, run_cfg
from optuna.trial import FixedTrial

from psy_agents.config import AGENTS, HpoConfig, agent_defaults, run_config
from psy_agents.errors import InputError
from psy_agents.hpo.inputs import StageInputs
from psy_agents.hpo.space import base_values, flatten, space_for, suggest, to_sections, validate_space

SEARCH = {
    "common": {
        "train": {
            "lr": {"type": "float", "low": 1.0e-5, "high": 3.0e-4, "log": True},
            "loss": {"type": "categorical", "choices": ["ce", "focal"]},
            "focal_gamma": {"type": "float", "low": 0.5, "high": 3.0, "condition": {"train.loss": "focal"}},
        },
        "model.pooling": {"type": "categorical", "choices": ["cls", "mean"]},
    },
    "criteria": {"model": {"pooling": {"type": "categorical", "choices": ["max"]}}},
    "augment": {"augment": {"p_apply": {"type": "float", "low": 0.0, "high": 0.5}}},
}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "uniform", "low": 0, "high": 1}, "type 'uniform' unknown"),
        ({"type": "float", "low": 0.1}, "needs both `low` and `high`"),
        ({"type": "float", "low": 2.0, "high": 1.0}, "low 2.0 > high 1.0"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "log scale needs low > 0"),
        ({"type": "categorical", "choices": []}, "non-empty list"),
        ({"type": "int", "low": 1, "hgh": 3}, "unknown field(s) hgh"),
        ({"type": "float", "low": 0.1, "high": 1.0, "condition": {"train.losss": "focal"}}, "train.losss is neither"),
    ],
)
def test_validate_space_names_the_entry_and_the_problem(entry: dict, message: str) -> None:
    with pytest.raises(InputError) as err:
        validate_space({"train.lr": entry}, "search.common")
    assert "params.yaml search.common.train.lr" in str(err.value)
    assert message in str(err.value)


def test_validate_space_rejects_keys_that_are_not_config_fields() -> None:
    with pytest.raises(InputError, match="train.learning_rate is not a config field"):
        validate_space({"train.learning_rate": {"type": "float", "low": 0.1, "high": 1.0}}, "search.common")


def test_conditions_must_follow_their_key_and_name_a_possible_value() -> None:
    gamma = {"type": "float", "low": 0.5, "high": 3.0, "condition": {"train.loss": "focal"}}
    loss = {"type": "categorical", "choices": ["ce", "focal"]}
    with pytest.raises(InputError, match="declared after"):
        validate_space({"train.focal_gamma": gamma, "train.loss": loss})
    with pytest.raises(InputError, match="never takes 'Focal'"):
        validate_space({"train.loss": loss, "train.focal_gamma": {**gamma, "condition": {"train.loss": "Focal"}}})
    validate_space({"train.focal_gamma": gamma})  # a condition on a fixed (unsearched) field is fine


def test_string_numbers_are_accepted() -> None:
    # a YAML 1.1 reader (PyYAML) reads 1e-5 (no dot) as a string; a quoted number is one too
    validate_space({"train.lr": {"type": "float", "low": "1e-5", "high": "1e-3", "log": True}})


def test_a_choice_outside_the_field_type_fails_at_load_with_one_line() -> None:
    """A typo in a categorical fails when the stage loads its space, not as FAILED trials."""
    search = repo_params()["search"]
    search["criteria"]["model"]["pooling"]["choices"] = ["cls", "meen"]
    with pytest.raises(InputError) as err:
        space_for(search, "criteria", "a")
    assert str(err.value) == ("params.yaml search.criteria.model.pooling.choices: 'meen' is not a choice; use one of "
                              "cls | mean | max | attention")
    with pytest.raises(InputError, match=r"search.common.train.batch_size.choices: expected int, got 'big'"):
        validate_space({"train.batch_size": {"type": "categorical", "choices": [8, "big"]}}, "search.common")
    with pytest.raises(InputError, match=r"train.focal_gamma.condition.train.loss: 'Focal' is not a choice"):
        validate_space({"train.focal_gamma": {"type": "float", "low": 0.5, "high": 3.0,
                                              "condition": {"train.loss": "Focal"}}})


def test_nested_and_dotted_entries_flatten_alike() -> None:
    nested = flatten({"train": {"lr": {"type": "float"}}}, "search.common")
    dotted = flatten({"train.lr": {"type": "float"}}, "search.common")
    assert nested == dotted == {"train.lr": {"type": "float"}}


def test_space_for_merges_parts_and_adds_augment_only_in_stage_b() -> None:
    a = space_for(SEARCH, "criteria", "a")
    assert list(a) == ["train.lr", "train.loss", "train.focal_gamma", "model.pooling"]
    assert a["model.pooling"]["choices"] == ["max"]  # the agent part overrides common
    assert "augment.p_apply" not in a
    assert "augment.p_apply" in space_for(SEARCH, "criteria", "b")
    assert space_for(SEARCH, "evidence", "a")["model.pooling"]["choices"] == ["cls", "mean"]
    # stage A never augments (its DVC deps leave the augment code out): an augment key elsewhere is refused
    misplaced = {**SEARCH, "common": {**SEARCH["common"], "augment.p_apply": {"type": "float", "low": 0, "high": 1}}}
    with pytest.raises(InputError, match=r"search.common.augment.p_apply: augmentation joins the search in stage B"):
        space_for(misplaced, "criteria", "a")
    assert "augment.p_apply" in space_for(misplaced, "criteria", "b")


def test_a_stage_with_a_horizon_never_holds_epochs_or_patience() -> None:
    """Stage A (hpo.a.max_resource) and stage B with hpo.b.epochs set them themselves (one horizon, no early
    stopping) even where params declare them; stage B without a horizon samples them."""
    search = {**SEARCH, "criteria": {"train": {"epochs": {"type": "int", "low": 3, "high": 8}}}}
    search["common"] = {**SEARCH["common"], "train.patience": {"type": "int", "low": 1, "high": 2},
                        "train.epochs": {"type": "int", "low": 2, "high": 4}}
    assert not {"train.epochs", "train.patience"} & set(space_for(search, "criteria", "a", horizon=True))
    b = space_for(search, "criteria", "b")
    assert b["train.epochs"] == {"type": "int", "low": 3, "high": 8} and "train.patience" in b
    params = repo_params()
    for agent in AGENTS:
        for epochs in (1, None):
            inputs = StageInputs(agent=agent, sections=params, search=search, tfidf=None, examples=[], splits={},
                                 out_dir=Path("unused"), hpo=defaults(HpoConfig, b={"epochs": epochs}))
            assert not {"train.epochs", "train.patience"} & set(inputs.space("a"))
            assert ("train.patience" in inputs.space("b")) == (epochs is None)


def test_agent_defaults_take_their_keys_out_of_the_common_space() -> None:
    """A key an agent's agent_defaults fix is not searched for that agent, unless its own part declares it."""
    search = {**SEARCH, "evidence": {"train": {"lr": {"type": "float", "low": 1e-4, "high": 1e-3}}}}
    fixed = ("train.lr", "model.pooling")
    criteria = space_for(search, "criteria", "b", fixed)  # lr fixed; pooling searched by its own part, in place
    assert list(criteria) == [key for key in space_for(search, "criteria", "b") if key != "train.lr"]
    assert criteria["model.pooling"]["choices"] == ["max"]
    evidence = space_for(search, "evidence", "b", fixed)
    assert evidence["train.lr"]["low"] == 1e-4 and "model.pooling" not in evidence
    # params.yaml: criteria trains batch 16, evidence 4 epochs, and neither searches them; share searches the batch
    params = repo_params()
    assert "train.batch_size" not in space_for(params["search"], "criteria", "b", agent_defaults(params, "criteria"))
    assert "train.epochs" not in space_for(params["search"], "evidence", "b", agent_defaults(params, "evidence"))
    assert "train.batch_size" in space_for(params["search"], "share", "b", agent_defaults(params, "share"))


def test_errors_name_the_part_an_entry_came_from() -> None:
    bad = {**SEARCH, "evidence": {"train": {"lr": {"type": "float", "low": 1.0, "high": 0.1}}}}
    with pytest.raises(InputError, match=r"params.yaml search.evidence.train.lr: low"):
        space_for(bad, "evidence", "a")


def test_conditional_parameter_exists_only_when_its_condition_holds() -> None:
    space = space_for(SEARCH, "criteria", "a")
    focal = suggest(FixedTrial({"train.lr": 1e-4, "train.loss": "focal", "train.focal_gamma": 2.5,
                                "model.pooling": "max"}), space)
    assert focal["train.focal_gamma"] == 2.5
    ce = suggest(FixedTrial({"train.lr": 1e-4, "train.loss": "ce", "model.pooling": "max"}), space)
    assert "train.focal_gamma" not in ce


def test_conditions_fall_back_to_base_values_for_unsearched_keys() -> None:
    space = {"train.focal_gamma": {"type": "float", "low": 0.5, "high": 3.0, "condition": {"train.loss": "focal"}}}
    trial = FixedTrial({"train.focal_gamma": 1.5})
    assert suggest(trial, space, base_values(run_cfg("criteria"))) == {}  # default loss is ce
    assert suggest(trial, space, {"train.loss": "focal"}) == {"train.focal_gamma": 1.5}


def test_sampled_values_build_a_run_config() -> None:
    space = {**space_for(SEARCH, "criteria", "b"),
             "train.focal_alpha": {"type": "categorical", "choices": [None, 0.25]}}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    flat = suggest(study.ask(), space)
    assert to_sections({"train.lr": 1e-4, "model.pooling": "mean"}) == {
        "train": {"lr": 1e-4}, "model": {"pooling": "mean"}}
    cfg = run_config("criteria", repo_params(), {"train.epochs": 2, **flat})
    assert cfg.train.lr == flat["train.lr"] and cfg.train.epochs == 2
    assert cfg.train.focal_alpha == flat["train.focal_alpha"]


def test_the_params_yaml_search_space_samples_valid_run_configs() -> None:
    params = repo_params()
    for agent in AGENTS:
        for stage in ("a", "b"):
            space = space_for(params["search"], agent, stage, agent_defaults(params, agent))
            flat = suggest(optuna.create_study().ask(), space, base_values(run_config(agent, params)))
            run_config(agent, params, flat)


def test_defaults_in_space_keep_what_the_space_can_take() -> None:
    from psy_agents.hpo.space import defaults_in_space

    space = space_for({**SEARCH, "criteria": {"model": {"max_length": {"type": "categorical", "choices": [64, 128]}}}},
                      "criteria", "a")
    base = {**base_values(run_cfg("criteria")), "model.max_length": 256, "train.lr": 1e-4, "train.loss": "ce"}
    seed = defaults_in_space(space, base)
    # lr and loss are defaults the space holds; 256 is not a choice and focal_gamma's condition is unmet
    assert seed == {"train.lr": 1e-4, "train.loss": "ce", "model.pooling": base["model.pooling"]}
    assert suggest(FixedTrial(seed | {"model.max_length": 64}), space, base)["train.lr"] == 1e-4
    # every agent's params.yaml defaults give a seed the sampler accepts
    params = repo_params()
    for agent in AGENTS:
        space = space_for(params["search"], agent, "a", agent_defaults(params, agent))
        run = run_config(agent, params)
        study = optuna.create_study()
        study.enqueue_trial(defaults_in_space(space, base_values(run)))
        trial = study.ask()
        sampled = suggest(trial, space, base_values(run))
        lr = space["train.lr"]
        if lr["low"] <= params["train"]["lr"] <= lr["high"]:
            assert sampled["train.lr"] == params["train"]["lr"]
        else:  # criteria searches its own lower range: the sampler draws the seed's lr there
            assert lr["low"] <= sampled["train.lr"] <= lr["high"]
