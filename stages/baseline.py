"""DVC stage baseline@{agent}: TF-IDF + logistic regression reference -> metrics/{agent}/baseline.json."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from psy_agents.baseline import baseline_report
from psy_agents.config import AGENTS, BaselineConfig, build, load_params
from psy_agents.data.examples import load_examples, load_splits
from psy_agents.data.io import write_json
from psy_agents.errors import run_main


def rounded(value: Any, digits: int = 4) -> Any:
    """Round every float in a nested report so metrics files diff cleanly."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item, digits) for item in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agent", required=True, choices=AGENTS)
    args = parser.parse_args()
    cfg = build(BaselineConfig, load_params().get("baseline"), "baseline")
    splits, criteria = load_splits(), load_examples("criteria")
    examples = criteria if args.agent == "criteria" else load_examples(args.agent)
    report = baseline_report(args.agent, examples, criteria, splits, cfg)
    write_json(Path("metrics") / args.agent / "baseline.json", rounded(report))


if __name__ == "__main__":
    run_main(main)
