"""params.yaml and the typed config defaults agree, so a config built in code trains what the pipeline trains."""

from __future__ import annotations

import pytest
from conftest import ROOT

from psy_agents.config import (
    AugmentConfig,
    BaselineConfig,
    DataConfig,
    HpoConfig,
    InputError,
    ModelConfig,
    RefitConfig,
    SplitConfig,
    TfidfConfig,
    TrainConfig,
    build,
    load_params,
    parse_override,
)

SECTIONS = {
    "data": DataConfig, "split": SplitConfig, "model": ModelConfig, "train": TrainConfig, "augment": AugmentConfig,
    "baseline": BaselineConfig, "tfidf": TfidfConfig, "hpo": HpoConfig, "refit": RefitConfig,
}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_dataclass_defaults_equal_params_yaml(section):
    params = load_params(ROOT / "params.yaml")
    assert build(SECTIONS[section], params[section], section) == SECTIONS[section]()


def test_unknown_key_and_bad_override_are_one_line_errors():
    with pytest.raises(InputError, match="unknown key"):
        build(TrainConfig, {"lrr": 1.0}, "train")
    with pytest.raises(InputError, match="not valid YAML"):
        parse_override("train.lr=[")
    assert parse_override("train.lr=1.0e-4") == ("train.lr", 1e-4)
