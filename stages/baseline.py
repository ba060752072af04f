"""DVC stage baseline@{agent}: TF-IDF + logistic regression reference and the trivial floors ->
outputs/{agent}/baseline/report.json, the TF-IDF test predictions -> outputs/{agent}/baseline/test_predictions.jsonl
(refit's reference), and the TF-IDF test primary with its bootstrap interval -> metrics/{agent}/baseline.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from psy_agents.baseline import baseline_report
from psy_agents.config import AGENTS, BaselineConfig, BootstrapConfig, build, load_params
from psy_agents.data.examples import load_examples, load_splits
from psy_agents.data.io import rounded, write_json, write_jsonl, write_metrics
from psy_agents.errors import run_main
from psy_agents.evaluation.bootstrap import primary_interval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agent", required=True, choices=AGENTS)
    args = parser.parse_args()
    params = load_params()
    cfg = build(BaselineConfig, params.get("baseline"), "baseline")
    boot = build(BootstrapConfig, params.get("bootstrap"), "bootstrap")
    splits, criteria = load_splits(), load_examples("criteria")
    examples = criteria if args.agent == "criteria" else load_examples(args.agent)
    report, predictions = baseline_report(args.agent, examples, criteria, splits, cfg)
    low, high = primary_interval(args.agent, predictions, boot.draws, boot.seed, boot.level)
    report["test"]["tfidf"].update(primary_low=low, primary_high=high)
    out = Path("outputs") / args.agent / "baseline"
    write_json(out / "report.json", rounded(report))
    write_jsonl(out / "test_predictions.jsonl", predictions)
    # the floors and the validation score stay in the report: the metrics hold the test reference the agents are
    # compared with, under test.json's keys
    write_metrics(Path("metrics") / args.agent / "baseline.json",
                  {"primary": report["test"]["tfidf"]["primary"], "low": low, "high": high})


if __name__ == "__main__":
    run_main(main)
