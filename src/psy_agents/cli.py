"""`psy-agents` command line: train one config, or join an HPO study as a worker."""

from __future__ import annotations

import argparse
from pathlib import Path

from psy_agents.config import AGENTS, apply_overrides, load_params, parse_override, run_config
from psy_agents.data.examples import load_examples, load_splits, select
from psy_agents.data.io import write_json
from psy_agents.errors import InputError, run_main


def train_command(args: argparse.Namespace) -> None:
    from dvclive import Live

    from psy_agents.augment.policy import augmenter_for
    from psy_agents.training.loop import train
    from psy_agents.training.tracking import dvclive_callback

    params = load_params(args.params)
    sections = apply_overrides(
        {k: params.get(k, {}) for k in ("model", "train", "augment")}, dict(map(parse_override, args.set))
    )
    run = run_config(args.agent, sections)
    examples = load_examples(args.agent)
    splits = load_splits()
    out = Path(args.out)
    with Live(str(out / "dvclive"), dvcyaml=False, save_dvc_exp=False) as live:
        live.log_params(run.to_dict())
        result = train(
            run, select(examples, splits["train"]), select(examples, splits["val"]),
            callbacks=(dvclive_callback(live),), augmenter=augmenter_for(run), progress=True,
        )
    write_json(out / "metrics.json", {
        "agent": args.agent, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
        "train_seconds": round(result.seconds, 1), "val": result.best_metrics, "config": run.to_dict(),
    })
    print(f"{args.agent}: best epoch {result.best_epoch}, val {result.best_metrics and _headline(result.best_metrics)}"
          f" -> {out / 'metrics.json'}")


def worker_command(args: argparse.Namespace) -> None:
    import logging

    import optuna

    from psy_agents.hpo.stages import FINISHED, join_search, stage_inputs
    from psy_agents.hpo.study import redact

    if args.stage == "c":
        raise InputError("worker --stage c: stage C (cross-validation of the Pareto configs) runs in the DVC stage "
                         "process only; workers join the search stages a and b")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    optuna.logging.set_verbosity(optuna.logging.INFO)  # one line per finished trial, as in the stage's log
    inputs = stage_inputs(args.agent, args.stage, args.params)
    if inputs.hpo.storage:
        logging.getLogger(__name__).info("worker hpo_%s@%s on %s", args.stage, args.agent, redact(inputs.hpo.storage))
    else:
        logging.getLogger(__name__).warning(
            "hpo.storage is empty: joining the study file %s (processes on this machine only); set hpo.storage to "
            "a postgresql:// URL to share the study between machines", inputs.out_dir / "study.db")
    study, ran = join_search(inputs, args.stage, progress=False, wait=args.wait)
    finished = len(study.get_trials(deepcopy=False, states=FINISHED))
    print(f"worker hpo_{args.stage}@{args.agent}: ran {ran} trials; study {study.study_name} holds {finished} "
          f"finished of n_trials={getattr(inputs.hpo, args.stage).n_trials}")


def _headline(metrics: dict) -> str:
    keys = ("primary", "evidence_f1", "symptom_f1", "f1", "ece")
    return ", ".join(f"{k}={metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), float))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="psy-agents", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train one config on train, evaluate on val (params.yaml defaults)")
    p.add_argument("--agent", required=True, choices=AGENTS)
    p.add_argument("--out", required=True, help="output dir: metrics.json and dvclive/ logs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a params value, e.g. --set train.lr=1e-4 --set model.pooling=mean")
    p.add_argument("--params", default="params.yaml")
    p.set_defaults(func=train_command)
    p = sub.add_parser("worker", help="join an HPO stage's shared study (hpo.storage) and run its trials until it "
                                      "holds n_trials finished ones")
    p.add_argument("--agent", required=True, choices=AGENTS)
    p.add_argument("--stage", required=True, choices=("a", "b", "c"),
                   help="a or b; stage C cross-validates in the DVC stage process only")
    p.add_argument("--params", default="params.yaml",
                   help="the same params as the DVC stage (same space and settings: same study name)")
    p.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="give up if the DVC stage has not opened the study by then (default: wait indefinitely)")
    p.set_defaults(func=worker_command)
    args = parser.parse_args(argv)
    run_main(lambda: args.func(args))


if __name__ == "__main__":
    main()
