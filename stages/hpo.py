"""DVC stages hpo_a / hpo_b / hpo_c: `python stages/hpo.py --stage a|b|c --agent AGENT`."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import optuna
import yaml

from psy_agents.config import AGENTS
from psy_agents.data.io import read_json, write_json, write_metrics
from psy_agents.errors import run_main
from psy_agents.hpo.inputs import StageInputs, stage_inputs

# In outputs/{agent}/hpo_{a,b}/summary.json only: metrics/ holds the objective values and the complete and pruned
# counts, so that `dvc metrics show` stays one readable table
DETAIL = ("fail", "epochs", "seconds")


def search(inputs: StageInputs, stage: str) -> dict:
    """Stages A and B: run the study (workers may join), export top-K or Pareto front and trials.csv."""
    from psy_agents.hpo.export import export_a, export_b, trials_frame
    from psy_agents.hpo.search import default_seed, run_search, seeds_from_a

    out = inputs.out_dir
    if stage == "a":
        study, seconds = run_search(inputs, "a", enqueue=[default_seed(inputs, "a")])
        ranked, metrics = export_a(study, inputs.hpo.a, seconds)
        write_json(out / "topk.json", ranked)
    else:
        seeds = seeds_from_a(inputs, read_json(Path("outputs") / inputs.agent / "hpo_a" / "topk.json"))
        study, seconds = run_search(inputs, "b", enqueue=seeds)
        front, metrics = export_b(study, inputs.hpo.b, seconds)
        write_json(out / "pareto.json", front)
    trials_frame(study).to_csv(out / "trials.csv", index=False)
    write_json(out / "summary.json", metrics)
    return {k: v for k, v in metrics.items() if k not in DETAIL}


def crossval(inputs: StageInputs) -> dict:
    """Stage C: cross-validate the head of pareto.json (the front first); best.yaml holds the winner for refit."""
    from psy_agents.hpo.crossval import cross_validate, refit_epochs

    out = inputs.out_dir
    front = read_json(Path("outputs") / inputs.agent / "hpo_b" / "pareto.json")
    start = time.monotonic()
    cv = cross_validate(inputs, front)
    winner = next(c for c in cv["candidates"] if c["trial"] == cv["winner"])
    write_json(out / "cv.json", {**cv, "seconds": round(time.monotonic() - start, 1)})
    best = {"trial": winner["trial"], "params": winner["params"], "cv_mean": winner["mean"],
            "cv_std": winner["std"], "refit_epochs": refit_epochs(winner), "thresholds": winner["thresholds"]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "best.yaml").write_text(yaml.safe_dump(best, sort_keys=True), encoding="utf-8")
    # the winner's CV mean is the primary stage C selects on; every candidate's CV completes
    return {"primary": winner["mean"], "complete": len(cv["candidates"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", required=True, choices=("a", "b", "c"))
    parser.add_argument("--agent", required=True, choices=AGENTS)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    optuna.logging.set_verbosity(optuna.logging.INFO)  # one line per finished trial, with the best so far
    inputs = stage_inputs(args.agent, args.stage, args.params)
    metrics = crossval(inputs) if args.stage == "c" else search(inputs, args.stage)
    write_metrics(Path("metrics") / args.agent / f"hpo_{args.stage}.json", metrics)
    print(f"hpo_{args.stage}@{args.agent}: {metrics}")


if __name__ == "__main__":
    run_main(main)
