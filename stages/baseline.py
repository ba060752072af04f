"""DVC stage baseline@{agent}: TF-IDF + logistic regression reference and the trivial floors ->
outputs/{agent}/baseline/report.json, and the TF-IDF primary per split -> metrics/{agent}/baseline.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from psy_agents.baseline import baseline_report
from psy_agents.config import AGENTS, BaselineConfig, build, load_params
from psy_agents.data.examples import load_examples, load_splits
from psy_agents.data.io import rounded, write_json, write_metrics
from psy_agents.errors import run_main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agent", required=True, choices=AGENTS)
    args = parser.parse_args()
    cfg = build(BaselineConfig, load_params().get("baseline"), "baseline")
    splits, criteria = load_splits(), load_examples("criteria")
    examples = criteria if args.agent == "criteria" else load_examples(args.agent)
    report = baseline_report(args.agent, examples, criteria, splits, cfg)
    write_json(Path("outputs") / args.agent / "baseline" / "report.json", rounded(report))
    # the floors' primary is 0 by construction (a trivial predictor scores 0 on each): the report keeps them
    write_metrics(Path("metrics") / args.agent / "baseline.json",
                  {split: report[split]["tfidf"]["primary"] for split in ("val", "test")})


if __name__ == "__main__":
    run_main(main)
