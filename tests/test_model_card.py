"""The model card a refit writes into its model directory: hub metadata, the test result with its interval, the
thresholds, intended use and limits."""

from __future__ import annotations

import yaml

from psy_agents.config import load_params, run_config
from psy_agents.inference.card import model_card
from conftest import ROOT


def test_the_card_states_data_scores_thresholds_and_limits() -> None:
    run = run_config("share", load_params(ROOT / "params.yaml"))
    selection = {"trial": 3, "cv_mean": 0.41, "cv_std": 0.02, "epochs": 2, "params": {"train.lr": 0.000123456}}
    test = {"primary": 0.445, "low": 0.367, "high": 0.502, "vs_tfidf": 0.117, "vs_low": 0.042, "vs_high": 0.173,
            "ece": 0.024, "level": 0.95}
    card = model_card(run, "demo", {"train": 280, "val": 60, "test": 60}, selection, test,
                      {"decision": 0.4, "null": 0.61})
    _, meta, body = card.split("---\n", 2)
    meta = yaml.safe_load(meta)
    assert meta["base_model"] == run.model.backbone and "share" in meta["tags"]
    assert meta["model-index"][0]["results"][0]["metrics"][0]["value"] == 0.445
    assert "| primary | 0.4450 | [0.3670, 0.5020] |" in body and "[+0.0420, +0.1730]" in body
    assert "| `decision` | 0.4 |" in body and "| `train.lr` | 0.0001235 |" in body
    assert "280 train, 60 validation and\n  60 test posts" in body and "synthetic" in body
    assert "not a diagnostic or screening tool" in body and "psy-agents predict --model models/share" in body
