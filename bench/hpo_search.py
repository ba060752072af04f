"""Does the pipeline's search chain beat random search at equal compute? Chain vs random search vs plain TPE.

    python bench/hpo_search.py [--agents criteria evidence] [--seeds 0 1 2] [--random-budget 3] [--full-epochs 4]
                               [--random-pool FIDELITY_JSONL] [--workers 1] [--set KEY=VALUE ...] [--quick]

Per agent and seed, three sides search the agent's space, each from params.yaml's own config as its first trial
(but --random-pool's random search):
- chain: the pipeline's stages A, B and C as params.yaml sets them (their code: run_search, seeds_from_a,
  cross_validate), hpo.a.seed and hpo.b.seed set to the seed; its pick is stage C's winner.
- random: stage A's space at full fidelity (every train post, --full-epochs epochs, no pruning, no early stopping),
  every trial a random draw (TPE's start-up is optuna's RandomSampler), for --random-budget times the chain's budget;
  its pick at a budget is the best validation trial among the trials that budget pays for. With --random-pool, its
  trials are drawn in a seeded order from the full-fidelity runs of bench/hpo_fidelity.py (the same random draws of
  the same space, trained the same way, already paid for), and params.yaml's config is not among them.
- tpe: the same study with TPE after hpo.a.tpe_startup random trials, at the chain's budget.
Budget: trained examples, counted in passes over the train posts (an epoch on a share f of the train posts costs f; a
stage C fold costs its train part's share of the train posts per epoch), over every trial, pruned ones included.
Judge: each pick is cross-validated at full fidelity on --judge-folds folds of the train+val posts (grouped by
writer as split.group_by says, cut with a seed of their own, so the chain is not judged on the folds its stage C
chose on); the mean fold primary is the pick's score (0, the floor, if its loss goes NaN on a fold). Test posts are
never read.

It prints each side's budget and judged score per seed, the median and range over seeds per budget, and, per agent,
the budget random search needs for its median judged score to reach the chain's median, over the chain's median
budget. The last line is `chain_vs_random=X budget_ratio=Y` for the agent with the smallest ratio: X is the chain's
median score minus random search's at the chain's budget, Y that ratio (`>R`: random search did not reach the chain
within R times its budget).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import optuna
import yaml
from sklearn.model_selection import StratifiedGroupKFold

from common import quiet

from psy_agents.config import AGENTS, HpoConfig, SplitConfig, apply_overrides, build, load_params, parse_override
from psy_agents.data.examples import load_examples, load_splits
from psy_agents.data.splits import group_pattern, post_groups
from psy_agents.errors import InputError, run_main
from psy_agents.hpo.crossval import cross_validate
from psy_agents.hpo.export import epochs_trained, export_a, export_b
from psy_agents.hpo.inputs import StageInputs, stage_inputs
from psy_agents.hpo.search import default_seed, run_search, seeds_from_a, stage_fixed
from psy_agents.training.loop import resolve_device


def scratch(inputs: StageInputs, tmp: str, name: str, **hpo) -> StageInputs:
    """The stage's inputs with a private study store and output dir, and the bench's hpo settings."""
    return replace(inputs, hpo=replace(inputs.hpo, storage="", **hpo), out_dir=Path(tmp) / name,
                   store=Path(tmp) / f"{name}.db")


def trial_budget(study: optuna.Study, fraction: float) -> float:
    """Passes the study's trials trained (a trial stage B took over from stage A trained none)."""
    return fraction * epochs_trained(study)


def chain(agent: str, seed: int, params: str, tmp: str) -> dict:
    """Stages A, B and C as the pipeline runs them (stages/hpo.py), on a private store."""
    start = time.perf_counter()
    a_in = stage_inputs(agent, "a", params)
    a_in = scratch(a_in, tmp, "a", a=replace(a_in.hpo.a, seed=seed))
    study_a, _ = run_search(a_in, "a", progress=False, enqueue=[default_seed(a_in, "a")])
    ranked, _ = export_a(study_a, a_in.hpo.a, 0.0)
    b_in = stage_inputs(agent, "b", params)
    b_in = scratch(b_in, tmp, "b", b=replace(b_in.hpo.b, seed=seed))
    study_b, _ = run_search(b_in, "b", progress=False, enqueue=seeds_from_a(b_in, ranked))
    front, _ = export_b(study_b, b_in.hpo.b, 0.0)
    c_in = stage_inputs(agent, "c", params)
    cv = cross_validate(c_in, front, progress=False)
    train_posts = len(c_in.splits["train"])
    budget_c = sum(e * len(fold["train"]) / train_posts for cand in cv["candidates"]
                   for e, fold in zip(cand["epochs"], c_in.splits["folds"], strict=True))
    winner = next(c for c in cv["candidates"] if c["trial"] == cv["winner"])
    return {"pick": winner["params"], "seconds": time.perf_counter() - start,
            "budget": trial_budget(study_a, a_in.hpo.a.train_fraction)
            + trial_budget(study_b, b_in.hpo.b.train_fraction) + budget_c,
            "trials": {"a": len(study_a.trials), "b": len(study_b.trials), "c": len(cv["candidates"])}}


def full_study(agent: str, seed: int, params: str, tmp: str, name: str, n_trials: int, startup: int,
               epochs: int) -> list[dict]:
    """A stage A study at full fidelity: every train post, `epochs` epochs, no pruner. Trials in order."""
    inputs = stage_inputs(agent, "a", params)
    cfg = replace(inputs.hpo.a, seed=seed, n_trials=n_trials, tpe_startup=startup, pruner="none",
                  max_resource=epochs, min_resource=1, train_fraction=1.0)
    inputs = scratch(inputs, tmp, name, a=cfg)
    study, _ = run_search(inputs, "a", progress=False, enqueue=[default_seed(inputs, "a")])
    fixed = stage_fixed(cfg)
    return [{"params": {**t.params, **fixed}, "value": t.value, "budget": float(t.user_attrs.get("epochs", 0))}
            for t in study.get_trials(deepcopy=False)]


def random_pool(path: str | None, agent: str, epochs: int) -> list[dict]:
    """hpo_fidelity.py --out's full-fidelity runs of `agent` (every train post, `epochs` epochs) as random-search
    trials: each config's best validation epoch is its value, as a stage A trial at that fidelity reports."""
    if not path:
        return []
    fixed = {"train.epochs": epochs, "train.patience": 0}
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    pool = [{"params": {**r["config"], **fixed}, "value": None if r.get("diverged") else max(r["values"]),
             "budget": float(epochs)} for r in sorted(rows, key=lambda r: r["index"])
            if r["agent"] == agent and r["fraction"] >= 1 and r["epochs"] == epochs]
    if not pool:
        raise SystemExit(f"{path} holds no {agent} run at full fidelity 1x{epochs}: run bench/hpo_fidelity.py "
                         f"--agents {agent} --full 1x{epochs} --out {path}")
    return pool


def judge_folds(params: str, agent: str, k: int, seed: int) -> list[dict]:
    """k folds of the train+val posts, grouped by writer (split.group_by), stratified by whether a post holds any
    positive example of the agent, cut with the judge's own seed."""
    raw = load_params(params)
    pattern = group_pattern(build(SplitConfig, raw.get("split"), "split"), raw["data"]["source"])
    splits = load_splits()
    posts = sorted(splits["train"] + splits["val"])
    groups = post_groups(posts, pattern)
    positive = {ex["post_id"] for ex in load_examples(agent) if ex["label"]}
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    cut = folds.split(posts, [p in positive for p in posts], [groups[p] for p in posts])
    return [{"train": [posts[i] for i in tr], "val": [posts[i] for i in va]} for tr, va in cut]


_JUDGED: dict[str, float] = {}  # per worker process: picks repeat across budgets and seeds


class Judge:
    """Full-fidelity cross-validated primary of a config."""

    def __init__(self, agent: str, params: str, folds: list[dict]):
        inputs = stage_inputs(agent, "c", params)
        self.inputs = replace(inputs, splits={**inputs.splits, "folds": folds},
                              hpo=replace(inputs.hpo, c=replace(inputs.hpo.c, candidates=1)))
        self.cache = _JUDGED

    def __call__(self, config: dict) -> float:
        key = json.dumps([self.inputs.agent, config], sort_keys=True)
        if key not in self.cache:
            try:
                cv = cross_validate(self.inputs, [{"trial": 0, "params": config}], progress=False)
                self.cache[key] = cv["candidates"][0]["mean"]
            except InputError:  # it diverged on a fold: the floor
                self.cache[key] = 0.0
        return self.cache[key]


def picks(trials: list[dict]) -> list[tuple[float, dict]]:
    """(budget spent, best config so far by validation value) after each trial."""
    out, spent, best = [], 0.0, None
    for t in trials:
        spent += t["budget"]
        if t["value"] is not None and (best is None or t["value"] > best["value"]):
            best = t
        out.append((spent, best["params"] if best else None))
    return out


def one_seed(job: dict) -> dict:
    quiet()
    agent, seed, params, epochs = job["agent"], job["seed"], job["params"], job["full_epochs"]
    with tempfile.TemporaryDirectory(prefix=f"hpo_search_{agent}_{seed}_") as tmp:
        result = chain(agent, seed, params, tmp)
        startup = job["tpe_startup"]
        n_random = max(1, math.ceil(job["random_budget"] * result["budget"] / epochs))
        n_tpe = max(1, round(result["budget"] / epochs))
        if job["pool"]:  # random search as a seeded draw, without replacement, from a pool of random trials
            order = np.random.default_rng(seed).permutation(len(job["pool"]))
            random_trials = [job["pool"][i] for i in order[:n_random]]
        else:
            random_trials = full_study(agent, seed, params, tmp, "random", n_random, n_random + 1, epochs)
        tpe_trials = full_study(agent, seed, params, tmp, "tpe", n_tpe, startup, epochs)
    judge = Judge(agent, params, job["folds"])
    chain_score = judge(result["pick"])
    random_curve = [(b, judge(p)) for b, p in picks(random_trials)]
    tpe_curve = [(b, judge(p)) for b, p in picks(tpe_trials)]
    return {"agent": agent, "seed": seed, "chain": {**result, "score": chain_score},
            "random": random_curve, "tpe": tpe_curve}


def at_budget(curve: list[tuple[float, float]], budget: float) -> float:
    """The judged score of the pick a side holds once it has spent at most `budget` (nan: not one trial yet)."""
    scores = [s for b, s in curve if b <= budget + 1e-9]
    return scores[-1] if scores else float("nan")


def rng(values) -> str:
    v = np.asarray(values, dtype=float)
    if np.isnan(v).all():
        return "no trial within this budget"
    return f"{np.nanmedian(v):.4f} [{np.nanmin(v):.4f}, {np.nanmax(v):.4f}]"


def report(agent: str, results: list[dict], random_budget: float) -> tuple[float, float, str]:
    mine = sorted((r for r in results if r["agent"] == agent), key=lambda r: r["seed"])
    for r in mine:
        c = r["chain"]
        print(f"  seed {r['seed']}: chain budget {c['budget']:.2f} ({c['trials']['a']} A + {c['trials']['b']} B "
              f"trials, {c['trials']['c']} CV candidates, {c['seconds']:.0f} s) judged {c['score']:.4f}; random "
              f"{len(r['random'])} trials {' '.join(f'{s:.4f}' for _, s in r['random'])}; tpe "
              f"{' '.join(f'{s:.4f}' for _, s in r['tpe'])}")
    budget = float(np.median([r["chain"]["budget"] for r in mine]))
    chain_median = float(np.median([r["chain"]["score"] for r in mine]))
    print(f"  {'side':<14} {'budget':>7} judged CV primary, median [min, max] over {len(mine)} seeds")
    print(f"  {'chain':<14} {budget:>7.2f} {rng([r['chain']['score'] for r in mine])}")
    print(f"  {'tpe x1':<14} {budget:>7.2f} {rng([at_budget(r['tpe'], budget) for r in mine])}")
    grid = sorted({b for r in mine for b, _ in r["random"]})
    needed = None
    for b in grid:
        median = float(np.nanmedian([at_budget(r["random"], b) for r in mine]))
        if needed is None and median >= chain_median:
            needed = b
    for ratio in sorted({0.5, 1, 2, random_budget}):
        print(f"  {'random x' + format(ratio, 'g'):<14} {ratio * budget:>7.2f} "
              f"{rng([at_budget(r['random'], ratio * budget) for r in mine])}")
    gap = chain_median - float(np.nanmedian([at_budget(r["random"], budget) for r in mine]))
    reached = min(max(b for r in mine for b, _ in r["random"]) for r in mine)
    ratio = needed / budget if needed is not None else reached / budget
    text = f"{ratio:.2f}" if needed is not None else f">{ratio:.2f}"
    print(f"  {agent}: random search matches the chain's median {chain_median:.4f} at "
          f"{'budget ' + format(needed, '.2f') if needed is not None else 'no budget up to ' + format(reached, '.2f')}")
    return ratio, gap, f"{agent} chain_vs_random={gap:+.4f} budget_ratio={text}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--agents", nargs="+", default=["criteria", "evidence"], choices=AGENTS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--random-budget", type=float, default=3.0, help="random search's budget over the chain's")
    parser.add_argument("--full-epochs", type=int, default=4, help="epochs of a full-fidelity trial")
    parser.add_argument("--judge-folds", type=int, default=2)
    parser.add_argument("--judge-seed", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="processes, one (agent, seed) each")
    parser.add_argument("--random-pool", metavar="JSONL",
                        help="draw random search's trials from hpo_fidelity.py --out's full-fidelity runs "
                             "(seeded order per seed) instead of training them")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="params.yaml overrides")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: criteria, seed 0, 2 + 2 trials on 10%% of the train posts, one CV "
                             "candidate, 1-epoch full trials, random search to 1.5x")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.seeds, args.full_epochs, args.random_budget = ["criteria"], [0], 1, 1.5
        args.set += ["agent_defaults.criteria.train.epochs=1", "hpo.a.n_trials=2", "hpo.b.n_trials=2",
                     "hpo.b.population_size=2", "hpo.c.candidates=1", "hpo.a.train_fraction=0.1",
                     "hpo.b.train_fraction=0.1", "hpo.b.epochs=1"]
    quiet()
    overrides = dict(parse_override(text) for text in args.set)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(apply_overrides(load_params(args.params), overrides), f, sort_keys=False)
        params = f.name
    hpo = build(HpoConfig, load_params(params).get("hpo"), "hpo")
    print(f"hpo_search: agents {' '.join(args.agents)}, seeds {' '.join(map(str, args.seeds))}; chain: stage A "
          f"{hpo.a.n_trials} trials x {hpo.a.train_fraction:g} of the train posts x {hpo.a.max_resource} epochs "
          f"(pruner {hpo.a.pruner}), B {hpo.b.n_trials} trials (population {hpo.b.population_size}) x "
          f"{hpo.b.train_fraction:g} x {hpo.b.epochs or 'own'} epochs, C {hpo.c.candidates} candidates; full "
          f"fidelity 1 x {args.full_epochs} epochs; "
          f"judge {args.judge_folds} folds (seed {args.judge_seed}); overrides {' '.join(args.set) or 'none'}")
    load = os.getloadavg()
    print(f"  load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs; "
          f"device {resolve_device()}; {args.workers} worker(s)")
    folds = {a: judge_folds(params, a, args.judge_folds, args.judge_seed) for a in args.agents}
    pools = {a: random_pool(args.random_pool, a, args.full_epochs) for a in args.agents}
    jobs = [{"agent": a, "seed": s, "params": params, "full_epochs": args.full_epochs, "folds": folds[a],
             "random_budget": args.random_budget, "pool": pools[a], "tpe_startup": hpo.a.tpe_startup}
            for a in args.agents for s in args.seeds]
    start = time.perf_counter()
    results = []
    try:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            for future in as_completed([pool.submit(one_seed, job) for job in jobs]):
                results.append(future.result())
                print("  done: " + json.dumps({k: results[-1][k] for k in ("agent", "seed", "chain", "random", "tpe")}),
                      flush=True)
    finally:
        os.unlink(params)
    print(f"  {len(jobs)} (agent, seed) searches in {time.perf_counter() - start:.0f} s; load average at end: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    lines = []
    for agent in args.agents:
        print(f"{agent}:")
        lines.append(report(agent, results, args.random_budget))
    for _, _, line in lines:
        print(line)
    ratio, gap, _ = min(lines, key=lambda t: t[0])
    worst = next(t[2] for t in lines if t[0] == ratio)
    print(f"chain_vs_random={gap:+.4f} budget_ratio={worst.rsplit('=', 1)[1]}")


if __name__ == "__main__":
    run_main(main)
