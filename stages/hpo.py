"""DVC stages hpo_a / hpo_b / hpo_c: `python stages/hpo.py --stage a|b|c --agent AGENT`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import optuna
import yaml

from psy_agents.config import AGENTS
from psy_agents.data.io import read_json, write_json
from psy_agents.errors import run_main
from psy_agents.hpo.stages import (
    cross_validate,
    default_seed,
    export_a,
    export_b,
    refit_epochs,
    run_search,
    seeds_from_a,
    snapshot_study,
    stage_inputs,
)
from psy_agents.hpo.study import trials_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", required=True, choices=("a", "b", "c"))
    parser.add_argument("--agent", required=True, choices=AGENTS)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    optuna.logging.set_verbosity(optuna.logging.INFO)  # one line per finished trial, with the best so far
    inputs = stage_inputs(args.agent, args.stage, args.params)
    out, metrics_path = inputs.out_dir, Path("metrics") / args.agent / f"hpo_{args.stage}.json"

    if args.stage == "a":
        study, seconds = run_search(inputs, "a", enqueue=[default_seed(inputs, "a")])
        ranked, metrics = export_a(study, inputs.hpo.a, seconds)
        write_json(out / "topk.json", ranked)
        study_frame = study
    elif args.stage == "b":
        seeds = seeds_from_a(inputs, read_json(Path("outputs") / args.agent / "hpo_a" / "topk.json"))
        study, seconds = run_search(inputs, "b", enqueue=seeds)
        front, metrics = export_b(study, inputs.hpo.b, seconds)
        write_json(out / "pareto.json", front)
        study_frame = study
    else:
        front = read_json(Path("outputs") / args.agent / "hpo_b" / "pareto.json")
        cv = cross_validate(inputs, front)
        winner = next(c for c in cv["candidates"] if c["trial"] == cv["winner"])
        write_json(out / "cv.json", cv)
        best = {"trial": winner["trial"], "params": winner["params"], "cv_mean": winner["mean"],
                "cv_std": winner["std"], "refit_epochs": refit_epochs(winner), "thresholds": winner["thresholds"]}
        out.mkdir(parents=True, exist_ok=True)
        (out / "best.yaml").write_text(yaml.safe_dump(best, sort_keys=True), encoding="utf-8")
        metrics = {"winner_trial": winner["trial"], "cv_mean": winner["mean"], "cv_std": winner["std"],
                   "candidates": len(cv["candidates"]), "folds": cv["folds"]}
        study_frame = None
    if study_frame is not None:
        trials_frame(study_frame).to_csv(out / "trials.csv", index=False)
        if inputs.hpo.storage:  # the study lives on the shared server; study.db (a DVC out) gets a copy
            snapshot_study(study_frame, out / "study.db")
    write_json(metrics_path, metrics)
    print(f"hpo_{args.stage}@{args.agent}: {metrics}")


if __name__ == "__main__":
    run_main(main)
