"""What Hyperband pruning saves in HPO stage A: the same search with Hyperband and with no pruner, side by side.

    python bench/hpo_pruning.py [--trials 24] [--max-resource 8] [--min-resource 2] [--reduction-factor 8] [--quick]

Both sides run psy_agents.hpo.search.run_search for stage A of the criteria agent (the fastest agent), with
params.yaml's hpo.a but the bench's trials, seed, TPE start-up, rungs and train fraction, each into a fresh
temporary study (SQLite in a temp dir). Stage A itself makes pruning the only thing that stops a trial early: every trial trains
--max-resource epochs (train.epochs, one LR-schedule horizon) with early stopping off (train.patience 0), neither
searched. One side prunes with Hyperband (--min-resource, --reduction-factor), the other (pruner `none`) trains
every trial to the end.

Cut down the same for both sides to fit about an hour on a small CPU: model.max_length is 64, train.batch_size
chooses from [8, 16], and torch runs --threads threads (default 1: on a shared 2-core CPU, 2 threads per process
oversubscribe it). Trials train on hpo.a.train_fraction of the train posts (or --train-fraction) and are scored on
every val post (or --val-fraction). The rest of search.common and search.criteria is searched as in params.yaml.

Rungs: Optuna's HyperbandPruner runs floor(log_eta(max_resource / min_resource)) + 1 brackets. The defaults give
one, successive halving with one rung at epoch 2: a trial goes on while its epoch-2 value is in the top 1/eta of
the trials that reached epoch 2 (with fewer than 2*eta there, only while it is the best so far): the first trials
run to the end while each beats the ones before, which is why 8 of 24 trials completed in the run below, not 3.
A rung at epoch 1 ranks configs poorly, and a smaller eta lets too many through for a 2x saving.

Measured with the defaults (criteria, model.criterion_input heads, 1 thread, 2-core CPU shared with another job):
hyperband 8 complete + 16 pruned, 96 epochs, 581 s, best 0.9091; none 24 complete, 192 epochs, 1310 s, best
0.9091; `saving=2.00 best_gap=0.0000`.

Same configs on both sides: --tpe-startup defaults to --trials, so every trial is a seeded random draw and both
sides train the same configs with the same seeds; best_gap then measures only what pruning cut. With a short TPE
start-up, pruning also changes what the sampler observes, so the gap mixes pruning with a different search path.

Epochs trained: the sum of the trials' user_attr "epochs" (a pruned trial counts the epochs it ran); wall_s:
run_search's own timing. The last line is
`saving=<epochs without pruning / epochs with> best_gap=<|best value without pruning - best with|>`.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from common import quiet

from psy_agents.config import StageAConfig
from psy_agents.data.splits import post_subset
from psy_agents.errors import run_main
from psy_agents.hpo.export import epochs_trained, state_counts
from psy_agents.hpo.inputs import StageInputs, stage_inputs
from psy_agents.hpo.search import run_search, stage_fixed

AGENT = "criteria"


def bench_inputs(args) -> StageInputs:
    if not Path("data/processed/criteria.jsonl").exists():
        raise SystemExit("data/processed/criteria.jsonl missing: run `dvc repro groundtruth` first")
    base = stage_inputs(AGENT, "a", args.params)
    search = copy.deepcopy(base.search)
    # an agent entry: a search.common one would not apply, as agent_defaults fixes criteria's batch size
    search.setdefault(AGENT, {}).setdefault("train", {})["batch_size"] = {"type": "categorical", "choices": [8, 16]}
    search.setdefault(AGENT, {}).setdefault("model", {})["max_length"] = {"type": "categorical", "choices": [64]}
    sections = copy.deepcopy(base.sections)
    sections.setdefault("train", {})["threads"] = args.threads
    splits = {**base.splits, "val": post_subset(base.examples, base.splits["val"], args.val_fraction, args.seed + 1)}
    if args.train_fraction is None:
        args.train_fraction = base.hpo.a.train_fraction
    return replace(base, search=search, sections=sections, splits=splits)


def side_config(inputs: StageInputs, pruner: str, args) -> StageAConfig:
    """params.yaml's hpo.a with the bench's trials, seed, start-up, rungs and train fraction."""
    stage = replace(
        inputs.hpo.a, n_trials=args.trials, seed=args.seed, tpe_startup=args.tpe_startup, pruner=pruner,
        min_resource=args.min_resource, max_resource=args.max_resource, reduction_factor=args.reduction_factor,
        train_fraction=args.train_fraction,
    )
    stage.check("hpo_pruning (params.yaml hpo.a with the bench's flags)")
    return stage


def run_side(inputs: StageInputs, pruner: str, args) -> dict:
    stage = side_config(inputs, pruner, args)
    with tempfile.TemporaryDirectory(prefix=f"hpo_pruning_{pruner}_") as tmp:
        side = replace(inputs, hpo=replace(inputs.hpo, storage="", a=stage), out_dir=Path(tmp),
                       store=Path(tmp) / "optuna.db")
        study, seconds = run_search(side, "a", progress=False)
        trials = study.get_trials(deepcopy=False)
        counts = state_counts(study)
        try:
            best = study.best_value
        except ValueError:
            best = float("nan")
        rows = [(t.number, t.state.name.lower(), t.user_attrs.get("epochs"),
                 t.intermediate_values.get(args.min_resource), t.value) for t in trials]
        return {"side": pruner, **counts, "epochs": epochs_trained(study), "seconds": seconds, "best": best,
                "trials": rows}


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--max-resource", type=int, default=8, help="epochs of every trial unless pruned")
    parser.add_argument("--min-resource", type=int, default=2)
    parser.add_argument("--reduction-factor", type=int, default=8)
    parser.add_argument("--tpe-startup", type=int, default=None,
                        help="random trials before TPE models the space (default: all; both sides draw the same)")
    parser.add_argument("--seed", type=int, default=42, help="sampler seed (both sides) and subset seed")
    parser.add_argument("--train-fraction", type=float, default=None,
                        help="share of the train posts trials train on (default: params.yaml hpo.a.train_fraction)")
    parser.add_argument("--val-fraction", type=float, default=1.0, help="seeded share of the val posts")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (train.threads) on both sides")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 4 trials of 2 epochs, rung at 1, 13%% of the train and 30%% of the val posts")
    parser.add_argument("--per-trial", action="store_true", help="also list every trial of both sides")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.max_resource, args.min_resource = 4, 2, 1
        args.train_fraction, args.val_fraction = 0.13, 0.3
    if args.tpe_startup is None:
        args.tpe_startup = args.trials

    quiet()
    inputs = bench_inputs(args)
    load = os.getloadavg()
    # the formula of optuna.pruners.HyperbandPruner (its _n_brackets is private)
    brackets = math.floor(math.log(args.max_resource / args.min_resource, args.reduction_factor) + 1e-9) + 1
    fixed = stage_fixed(side_config(inputs, "hyperband", args))
    print(f"hpo_pruning: agent {AGENT}, stage A, {args.trials} trials per side, sampler seed {args.seed}, "
          f"tpe_startup {args.tpe_startup}")
    print(f"  every trial unless pruned: {', '.join(f'{k}={v}' for k, v in fixed.items())} (stage A); hyperband "
          f"min_resource {args.min_resource}, max_resource {args.max_resource}, reduction_factor "
          f"{args.reduction_factor} ({brackets} bracket{'s' if brackets > 1 else ''})")
    train_posts = len(post_subset(inputs.examples, inputs.splits["train"], args.train_fraction, args.seed))
    print(f"  data: trials train on {train_posts} of {len(inputs.splits['train'])} train posts (train_fraction "
          f"{args.train_fraction}, seed {args.seed}), score {len(inputs.splits['val'])} val posts; max_length 64, "
          f"batch_size [8, 16], the rest of the criteria space as in params.yaml; {args.threads} torch thread(s); "
          f"backbone {inputs.sections['model'].get('backbone')}")
    print(f"  load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    results = [run_side(inputs, "hyperband", args), run_side(inputs, "none", args)]
    print(f"  load average at end:   {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.per_trial:
        for r in results:
            print(f"  {r['side']} (#trial state epochs epoch{args.min_resource}/final): " + ", ".join(
                f"#{n} {s[:4]} {e}ep {_f(v1)}/{_f(v)}" for n, s, e, v1, v in r["trials"]))
    print(f"{'side':<10} {'complete':>8} {'pruned':>6} {'fail':>6} {'epochs':>6} {'wall_s':>8} {'best':>8}")
    for r in results:
        print(f"{r['side']:<10} {r['complete']:>8} {r['pruned']:>6} {r['fail']:>6} {r['epochs']:>6} "
              f"{r['seconds']:>8.1f} {r['best']:>8.4f}")
    hb, none = results
    print(f"saving={none['epochs'] / max(hb['epochs'], 1):.2f} best_gap={abs(hb['best'] - none['best']):.4f}")


if __name__ == "__main__":
    run_main(main)
