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


def test_params_are_read_as_dvc_writes_them(tmp_path):
    # `dvc exp run -S` rewrites params.yaml by YAML 1.2 rules and leaves `no` unquoted; it must stay a word.
    path = tmp_path / "params.yaml"
    path.write_text("augment:\n  reserved_words: [not, no, never]\ntrain:\n  lr: 1e-4\n", encoding="utf-8")
    params = load_params(path)
    assert build(AugmentConfig, params["augment"], "augment").reserved_words == ("not", "no", "never")
    assert build(TrainConfig, params["train"], "train").lr == pytest.approx(1e-4)
    path.write_bytes(b"train:\n  lr: 1e-4 \xff\n")
    with pytest.raises(InputError, match="is not UTF-8"):
        load_params(path)
    with pytest.raises(InputError, match=r"augment.reserved_words\[1\]: expected a string, got False"):
        build(AugmentConfig, {"reserved_words": ["not", False]}, "augment")
