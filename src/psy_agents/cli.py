"""`psy-agents` command line: train one config, join an HPO study as a worker, predict with a trained model, or
compare DVC experiments."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from psy_agents.config import AGENTS, load_params, parse_override, run_config
from psy_agents.data.examples import load_examples, load_splits, select
from psy_agents.data.io import dump_jsonl, write_json, write_jsonl
from psy_agents.errors import InputError, run_main


def train_command(args: argparse.Namespace) -> None:
    from dvclive import Live

    from psy_agents.augment.policy import augmenter_for
    from psy_agents.inference import save_model
    from psy_agents.models.backbone import load_tokenizer
    from psy_agents.training.loop import train
    from psy_agents.training.tracking import dvclive_callback

    run = run_config(args.agent, load_params(args.params), dict(map(parse_override, args.set)))
    examples = load_examples(args.agent)
    splits = load_splits()
    out = Path(args.out)
    with Live(str(out / "dvclive"), dvcyaml=False, save_dvc_exp=False) as live:
        live.log_params(run.to_dict())
        result = train(
            run, select(examples, splits["train"]), select(examples, splits["val"]),
            callbacks=(dvclive_callback(live),), augmenter=augmenter_for(run), progress=True,
        )
    save_model(out / "model", run, result.model, result.readout, load_tokenizer(run.model.backbone),
               result.thresholds)
    write_json(out / "metrics.json", {
        "agent": args.agent, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
        "train_seconds": round(result.seconds, 1), "val": result.best_metrics, "config": run.to_dict(),
    })
    print(f"{args.agent}: best epoch {result.best_epoch}, val {result.best_metrics and _headline(result.best_metrics)}"
          f" -> {out / 'metrics.json'}, model {out / 'model'}")


def predict_command(args: argparse.Namespace) -> None:
    from psy_agents.inference import load_model, predict_posts, read_posts
    from psy_agents.report import prediction_report

    posts = read_posts(args.input)  # every check of input and model comes before anything is written
    trained = load_model(args.model)
    rows = predict_posts(trained, posts, progress=True)
    if args.out == "-":
        try:
            dump_jsonl(rows, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader stopped early (`| head`): what it read is all it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    else:
        write_jsonl(Path(args.out), rows)
    if args.html:
        Path(args.html).parent.mkdir(parents=True, exist_ok=True)
        Path(args.html).write_text(prediction_report(trained.run.agent, posts, rows, trained.thresholds.to_dict()),
                                   encoding="utf-8")
    print(f"predict: {len(rows)} posts ({trained.run.agent}) -> {'stdout' if args.out == '-' else args.out}"
          + (f", {args.html}" if args.html else ""), file=sys.stderr if args.out == "-" else sys.stdout)


def worker_command(args: argparse.Namespace) -> None:
    import logging

    import optuna

    from psy_agents.hpo.inputs import stage_inputs
    from psy_agents.hpo.search import join_search
    from psy_agents.hpo.storage import redact
    from psy_agents.hpo.workers import finished

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
            "hpo.storage is empty: joining the local study store %s (processes on this machine only); set "
            "hpo.storage to a postgresql:// URL to share the study between machines", inputs.store)
    study, ran = join_search(inputs, args.stage, progress=False, wait=args.wait)
    print(f"worker hpo_{args.stage}@{args.agent}: ran {ran} trials; study {study.study_name} holds "
          f"{finished(study)} finished of n_trials={getattr(inputs.hpo, args.stage).n_trials}")


def exps_command(args: argparse.Namespace) -> None:
    from psy_agents.experiments import show

    print(show(num=args.num))


def _headline(metrics: dict) -> str:
    keys = ("primary", "evidence_f1", "symptom_f1", "f1", "ece")
    return ", ".join(f"{k}={metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), float))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="psy-agents", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train one config on train, evaluate on val (params.yaml defaults)")
    p.add_argument("--agent", required=True, choices=AGENTS)
    p.add_argument("--out", required=True, help="output dir: metrics.json, dvclive/ logs and the model (model/)")
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
    p = sub.add_parser("predict", help="answer new posts with a trained model: symptoms with probabilities and "
                                      "decisions, evidence spans (span agents) or sentence decisions (criteria)")
    p.add_argument("--model", required=True, metavar="DIR",
                   help="a model directory: models/<agent>/ (refit) or <out>/model/ (psy-agents train)")
    p.add_argument("--input", required=True, metavar="FILE",
                   help="posts: a .csv with columns post_id,text (the release format), a .jsonl of "
                        '{"id", "text"} lines, or - for plain text on stdin (one post)')
    p.add_argument("--out", required=True, metavar="FILE", help="JSONL, one line per post, in input order; - for stdout")
    p.add_argument("--html", metavar="FILE", help="also write the evidence report of the predictions")
    p.set_defaults(func=predict_command)
    p = sub.add_parser("exps", help="the DVC experiments of this repository: each one's changed params and each "
                                   "agent's test primary (what `dvc exp show` holds, in a terminal's width)")
    p.add_argument("-n", "--num", type=int, default=1, help="experiments of the last N commits (as dvc exp show -n)")
    p.set_defaults(func=exps_command)
    args = parser.parse_args(argv)
    run_main(lambda: args.func(args))


if __name__ == "__main__":
    main()
