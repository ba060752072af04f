"""`psy-agents exps`: DVC's experiments in one table that fits a terminal: each experiment's changed params and each
agent's test primary.

`dvc exp show` heads a metric with its file's path whenever its key repeats across files, so the four agents' test
`primary` alone take 130 columns there (and every search-space leaf and metric of four agents one more each). This
reads the same rows through DVC's API (`dvc.api.exp_show`) and keeps what a comparison needs.
"""

from __future__ import annotations

import re
from typing import Any

HEADLINE = re.compile(r"metrics/(\w+)/test\.json:primary$")
ROW_INFO = ("Experiment", "rev", "typ", "Created", "parent", "State", "Executor")


def _param(value: Any) -> str:
    """DVC hands numbers over as floats and null as 'None'."""
    return "null" if value in (None, "None") else f"{value:g}" if isinstance(value, float) else str(value)


def _metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"  # an agent the experiment did not run


def experiments_table(rows: list[dict[str, Any]], metric_keys: set[str]) -> list[list[str]]:
    """The table's lines (header first) from `dvc.api.exp_show` rows: a name per row, the params whose values differ
    between rows (DVC's bare keys that are neither metrics nor deps: deps are paths), then each agent's test primary.
    `metric_keys`: the metrics DVC names bare (a key of one file only), so none is taken for a param."""
    agents = {m.group(1): key for key in (rows[0] if rows else {}) if (m := HEADLINE.match(key))}
    params = [key for key in (rows[0] if rows else {})
              if key not in ROW_INFO and "/" not in key and ":" not in key and key not in metric_keys
              and len({repr(row.get(key)) for row in rows}) > 1]
    header = ["Experiment", *params, *agents]
    body = [[f"{row['rev']} [{row['Experiment']}]" if row.get("Experiment") else str(row.get("rev")), *(_param(row.get(k)) for k in params),
             *(_metric(row.get(key)) for key in agents.values())] for row in rows]
    return [header, *body]


def render(lines: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(line, widths, strict=True))).rstrip() for line in lines)


def show(repo: str = ".", num: int = 1) -> str:
    import dvc.api

    rows = dvc.api.exp_show(repo=repo, num=num)
    metric_keys = {key for key in dvc.api.metrics_show(repo=repo) if ":" not in key}
    return render(experiments_table(rows, metric_keys))
