"""`psy-agents exps`: the experiments table keeps the changed params and each agent's test primary, within a terminal."""

from __future__ import annotations

from psy_agents.experiments import experiments_table, render

AGENTS = ("criteria", "evidence", "share", "joint")


def row(name: str | None, rev: str, **values) -> dict:
    """One `dvc.api.exp_show` row as DVC flattens it: metrics with a path where their key repeats, params bare."""
    base = {"Experiment": name, "rev": rev, "typ": "baseline", "Created": "03:02 PM", "parent": None, "State": None,
            "Executor": None, "posts": 360.0, "dropped": 12.0, "split.seed": 42.0, "refit.epochs": "None",
            "bootstrap.level": 0.95, "search.common.train.lr.low": 3e-4, "data/processed": "md5-a",
            "metrics/criteria/hpo_a.json:primary": 0.18}
    for agent in AGENTS:
        base[f"metrics/{agent}/test.json:primary"] = 0.5
        base[f"metrics/{agent}/test.json:low"] = 0.4
    return {**base, **values}


def test_the_table_keeps_changed_params_and_each_agents_test_primary_by_name() -> None:
    rows = [row(None, "workspace"), row(None, "main"),
            row("ep3", "906225c", **{"refit.epochs": 3.0, "metrics/joint/test.json:primary": 0.31,
                                    "data/processed": "md5-b", "metrics/criteria/hpo_a.json:primary": 0.2}),
            row("lvl90", "ee379d9", **{"bootstrap.level": 0.9, "posts": 300.0,
                                      "metrics/criteria/test.json:primary": None})]
    header, *body = experiments_table(rows, metric_keys={"posts", "dropped"})
    # unchanged params, every metric but the test primaries (even a changed bare one) and deps stay out
    assert header == ["Experiment", "refit.epochs", "bootstrap.level", *AGENTS]
    assert body[2] == ["906225c [ep3]", "3", "0.95", "0.5000", "0.5000", "0.5000", "0.3100"]
    assert body[3][:4] == ["ee379d9 [lvl90]", "null", "0.9", "-"]  # an agent the experiment did not run
    table = render([header, *body]).splitlines()
    assert len(table) == 5 and max(map(len, table)) <= 160
