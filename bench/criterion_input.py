"""model.criterion_input: pair (cross-encoder on (criterion, text)) vs heads (each text once, nine criteria answered).

    python bench/criterion_input.py [--agents criteria evidence [share joint]] [--epochs 2]
                                    [--train-fraction 1.0] [--val-fraction 1.0] [--threads N] [--quick]

Per agent, both sides train through psy_agents.training.loop.train in one process, heads first, then pair, on the
same config: params.yaml's model, train and augment sections (run_config(agent, load_params(), overrides)) with
only model.criterion_input set per side, plus train.epochs = --epochs and train.patience = 0, so both sides train the
same number of epochs (no early stop) on the same LR-schedule horizon, with the same train.seed. Everything else is
params.yaml's default, including what differs by formulation on purpose: pair subsamples negatives each epoch
(train.neg_ratio), heads trains every text with all nine criteria (no negative to leave out).

Data: the demo corpus in data/processed; both sides train on the train split's posts and are validated on the val
split's posts (--train-fraction / --val-fraction: a seeded, stratified share via psy_agents.data.splits.post_subset,
drawn once on the evidence examples' post-level labels, so every agent and both sides read the same posts).

What is timed (time.perf_counter, through instrumented task methods; src/ is not changed): the loop's task comes
from make_task, which the bench wraps to stamp three points of every epoch, in the order the loop runs them:
  * epoch start: the epoch's task.epoch call (negative subsampling; the loop's first call, which only
    sizes the LR schedule, is skipped);
  * scoring start: the epoch's task.records call on the val features;
  * epoch end: the loop's epoch callback, after thresholds are fitted and metrics computed.
train s/ep = scoring start - epoch start: batching, collate, forward, backward and optimizer steps of the epoch.
score s/ep = epoch end - scoring start: validation inference plus post-processing (best spans), threshold fitting
and metrics. Not in either: tokenisation and model build before epoch 1 (tokenisation is shown separately, `tok s`),
and the copy of the best state after the callback. Every column is the mean over the epochs.

`speedup` (last line) is pair train s/ep / heads train s/ep on the evidence agent, i.e. training only, the cost
each formulation's training pass has per epoch. Heads' larger saving is in scoring, where pair encodes every val
text nine times and nothing is subsampled; the line before the last gives the whole-epoch ratio
(train + score s/ep), which is what an HPO trial pays per epoch.

Encoder passes per epoch: `train feats/ep` = the features task.epoch trains on (sentences or windows; pair:
(criterion, text) pairs with negatives subsampled; heads: texts, all of them, negatives subsampled in the loss); `val feats` = the
val features scored each epoch. The joint agent runs two encoders over every feature.
Quality: `primary` = the best epoch's validation primary (TrainResult.best_metrics), thresholds fitted on val
each epoch as the loop does. `quality_gap` = pair primary - heads primary on evidence (positive: pair better).

Threads: train.threads from params.yaml (0: torch's default) or --threads, the same on both sides. On a shared
CPU under load, 2 threads per process oversubscribe 2 cores and every step waits on the descheduled thread; there
use --threads 1 (and read the times as relative only).

The last line is `speedup=<pair train s/ep / heads train s/ep on evidence> quality_gap=<pair primary - heads
primary on evidence>`. Run it on an idle machine: it prints the load average at start and end, and after each side.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import torch
from transformers.utils import logging as transformers_logging

import psy_agents.training.loop as loop
from psy_agents.config import AGENTS, load_params, run_config
from psy_agents.data.examples import load_examples, load_splits, select
from psy_agents.data.splits import post_subset
from psy_agents.errors import run_main

SIDES = ("heads", "pair")


class Probe:
    """Timestamps and sizes the loop's task reports, per training run."""

    def __init__(self) -> None:
        self.epoch_starts: list[float] = []
        self.train_feats: list[int] = []
        self.score_starts: list[float] = []
        self.val_feats: list[int] = []
        self.epoch_ends: list[float] = []
        self.tokenise = 0.0
        self.sizing_call_seen = False

    def wrap(self, make_task):
        def instrumented(run, tokenizer):
            task = make_task(run, tokenizer)
            features, epoch, records = task.features, task.epoch, task.records

            def timed_features(examples, cache=True):
                start = time.perf_counter()
                out = features(examples, cache=cache)
                self.tokenise += time.perf_counter() - start
                return out

            def stamped_epoch(feats, rng):
                now = time.perf_counter()
                view, indices = epoch(feats, rng)
                if not self.sizing_call_seen:  # train() calls it once before epoch 1 to size the LR schedule
                    self.sizing_call_seen = True
                else:
                    self.epoch_starts.append(now)
                    self.train_feats.append(len(indices))
                return view, indices

            def stamped_records(model, feats, examples, predict_fn, readout):
                self.score_starts.append(time.perf_counter())
                self.val_feats.append(len(feats))
                return records(model, feats, examples, predict_fn, readout)

            # instance attributes shadow the methods for this task only
            task.features, task.epoch, task.records = timed_features, stamped_epoch, stamped_records
            return task

        return instrumented

    def callback(self, epoch: int, train_loss: float, metrics: dict | None) -> None:
        self.epoch_ends.append(time.perf_counter())


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def run_side(agent: str, side: str, params: dict, data: dict, args) -> dict:
    overrides = {"model.criterion_input": side, "train.epochs": args.epochs, "train.patience": 0}
    if args.threads is not None:
        overrides["train.threads"] = args.threads
    run = run_config(agent, params, overrides)
    train_examples, val_examples = data[agent]
    probe = Probe()
    original = loop.make_task
    loop.make_task = probe.wrap(original)  # train() calls the name it imported
    try:
        result = loop.train(run, train_examples, val_examples, callbacks=(probe.callback,))
    finally:
        loop.make_task = original
    load = os.getloadavg()[0]
    n = len(probe.epoch_ends)
    if not (len(probe.epoch_starts) == len(probe.score_starts) == n == result.epochs_run):
        raise RuntimeError(f"{agent}/{side}: {len(probe.epoch_starts)} epoch starts, {len(probe.score_starts)} "
                           f"scorings, {n} callbacks for {result.epochs_run} epochs: the loop's order changed")
    train_s = [probe.score_starts[i] - probe.epoch_starts[i] for i in range(n)]
    score_s = [probe.epoch_ends[i] - probe.score_starts[i] for i in range(n)]
    best = result.best_metrics or {}
    return {
        "agent": agent, "side": side, "train_s": mean(train_s), "score_s": mean(score_s),
        "epoch_s": mean([t + s for t, s in zip(train_s, score_s, strict=True)]), "tokenise_s": probe.tokenise,
        "train_feats": mean(probe.train_feats), "val_feats": mean(probe.val_feats), "primary": best.get("primary"),
        "best_epoch": result.best_epoch, "epochs": n, "load": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+", choices=AGENTS, default=["criteria", "evidence"],
                        help="agents to compare (evidence is required: the last line reports it)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-fraction", type=float, default=1.0, help="seeded, stratified share of train posts")
    parser.add_argument("--val-fraction", type=float, default=1.0, help="seeded, stratified share of val posts")
    parser.add_argument("--seed", type=int, default=42, help="seed of the post subsets (training uses train.seed)")
    parser.add_argument("--threads", type=int, default=None, help="train.threads on both sides (default: params.yaml)")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 epoch on 5%% of the train posts, validated on 15%% of the val posts")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.train_fraction, args.val_fraction = 1, 0.05, 0.15
    if "evidence" not in args.agents:
        parser.error("--agents must include evidence: the last line compares the sides on it")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if not Path("data/processed/evidence.jsonl").exists():
        raise SystemExit("data/processed/evidence.jsonl missing: run `dvc repro groundtruth` first")

    logging.basicConfig(level=logging.WARNING)
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()  # "Loading weights" bars, one per side
    params = load_params(args.params)
    base = run_config(args.agents[0], params)  # what both sides share: backbone, seed, threads, precision
    splits = load_splits()
    evidence = load_examples("evidence")
    train_posts = post_subset(evidence, splits["train"], args.train_fraction, args.seed)
    val_posts = post_subset(evidence, splits["val"], args.val_fraction, args.seed + 1)
    data = {}
    for agent in args.agents:
        examples = evidence if agent != "criteria" else load_examples("criteria")
        data[agent] = (select(examples, train_posts), select(examples, val_posts))

    if args.threads is not None and args.threads > 0:
        torch.set_num_threads(args.threads)  # what train() sets, so the header reports it
    elif base.train.threads > 0:
        torch.set_num_threads(base.train.threads)
    load = os.getloadavg()
    dtype = loop.autocast_dtype(base.train.precision, loop.resolve_device())
    print(f"criterion_input: heads vs pair, agents {', '.join(args.agents)}; backbone "
          f"{base.model.backbone}, {args.epochs} epoch(s) per side (patience 0), train.seed {base.train.seed}, the "
          "rest params.yaml")
    print(f"  data: {len(train_posts)} of {len(splits['train'])} train posts (fraction {args.train_fraction}), "
          f"{len(val_posts)} of {len(splits['val'])} val posts (fraction {args.val_fraction}), subset seed {args.seed}")
    print(f"  device {loop.resolve_device()}, precision {'bf16 autocast' if dtype == torch.bfloat16 else 'fp32'}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"  load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    if load[0] > (os.cpu_count() or 1) + 0.5:  # more runnable threads than cores: contended
        print(f"  WARNING: load average {load[0]:.2f} on {os.cpu_count()} cores: other jobs compete for the CPU and "
              f"the timings below will be noisy; rerun when the machine is idle")

    rows = []
    for agent in args.agents:
        for side in SIDES:
            row = run_side(agent, side, params, data, args)
            rows.append(row)
            print(f"  done {agent}/{side}: {row['epochs']} epoch(s), load {row['load']:.2f}", flush=True)
    print(f"  load average at end:   {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    print(f"{'agent':<9} {'side':<6} {'train s/ep':>10} {'score s/ep':>10} {'epoch s':>8} {'tok s':>6} "
          f"{'train feats/ep':>14} {'val feats':>9} {'primary':>8} {'best ep':>7} {'load':>5}")
    for r in rows:
        primary = "-" if r["primary"] is None else f"{r['primary']:.4f}"
        print(f"{r['agent']:<9} {r['side']:<6} {r['train_s']:>10.2f} {r['score_s']:>10.2f} {r['epoch_s']:>8.2f} "
              f"{r['tokenise_s']:>6.2f} {r['train_feats']:>14.0f} {r['val_feats']:>9.0f} {primary:>8} "
              f"{r['best_epoch']:>7} {r['load']:>5.2f}")
    print("train s/ep: training only; score s/ep: val inference + spans + thresholds + metrics; epoch s: their sum; "
          "tok s: tokenising train+val once; feats = encoder passes (joint: x2 encoders); load: 1-min average after "
          "the side")
    by = {(r["agent"], r["side"]): r for r in rows}
    heads, pair = by[("evidence", "heads")], by[("evidence", "pair")]
    # no best epoch (primary NaN throughout) shows as nan, never as a gap to 0
    gap = float("nan") if None in (pair["primary"], heads["primary"]) else pair["primary"] - heads["primary"]
    print(f"evidence whole epoch (train + score): pair/heads = {pair['epoch_s'] / heads['epoch_s']:.2f}")
    print(f"speedup={pair['train_s'] / heads['train_s']:.2f} quality_gap={gap:.4f}")


if __name__ == "__main__":
    run_main(main)
