"""Do cheap trials rank configurations as full training does? Low fidelities against full fidelity, per agent.

    python bench/hpo_fidelity.py [--agents criteria evidence] [--configs 24] [--seed 0]
                                 [--schedules 0.2x2 ...] [--full 1x4] [--workers 1] [--quick]

--configs configurations are drawn (optuna's RandomSampler, --seed) from each agent's stage A space, as params.yaml
declares it. Each is trained by psy_agents.training.loop.train, the loop every stage uses, once per schedule
FRACTIONxEPOCHS (a seeded, stratified share of the train posts, hpo.a.seed's subset as stage A draws it, one LR
schedule over EPOCHS epochs, no early stopping) and once at full fidelity (--full, default every train post for 4 epochs).
Every run is scored on every val post each epoch. A schedule gives one fidelity per epoch, read off the same run:
`0.2x1/2` is epoch 1 of the 0.2x2 run (the value Hyperband's rung at epoch 1 sees), `0.2x2` its best epoch (the value
a completed stage A trial reports: stage A's default is hpo.a.train_fraction x hpo.a.max_resource). Full fidelity is
the full run's best epoch; its own earlier epochs (`1.0x1/4`, ...) are the rungs of a full-data search.

Per fidelity: its cost (trained examples over the full run's, measured), the Spearman rank correlation of its values
with full fidelity over the configurations, and the regret: full-fidelity value of the best configuration minus
that of the configuration the fidelity ranks first. The spread of the full values says how much the choice matters.
The last line per agent is `<agent> best_fidelity=<the cheapest fidelity within 0.05 of the best Spearman>`.
--out writes every run (params, per-epoch values, samples, seconds) as JSON lines; --reuse takes the runs of an
earlier --out file instead of training them again (add a schedule without retraining the others).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import numpy as np
import optuna
import pandas as pd

from common import quiet

from psy_agents.config import AGENTS, run_config
from psy_agents.data.examples import select
from psy_agents.data.splits import post_subset
from psy_agents.errors import run_main
from psy_agents.hpo.inputs import stage_inputs
from psy_agents.hpo.search import stage_fixed
from psy_agents.hpo.space import base_values, suggest
from psy_agents.training.loop import DivergedError, resolve_device, train

_INPUTS: dict = {}


def inputs_for(agent: str, params: str):
    if agent not in _INPUTS:
        _INPUTS[agent] = stage_inputs(agent, "a", params)
    return _INPUTS[agent]


def sample_configs(agent: str, params: str, n: int, seed: int) -> list[dict]:
    """n seeded random draws from the agent's stage A space (what stage A's TPE start-up draws)."""
    inputs = inputs_for(agent, params)
    space = inputs.space("a")
    base = base_values(run_config(agent, inputs.sections, stage_fixed(inputs.hpo.a)))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [suggest(study.ask(), space, base) for _ in range(n)]


def val_subset(inputs, fraction: float, seed: int) -> list[str]:
    return post_subset(inputs.examples, inputs.splits["val"], fraction, seed)


def train_once(job: dict) -> dict:
    """One training run: the job's config on a share of the train posts for a number of epochs (patience off)."""
    inputs = inputs_for(job["agent"], job["params_path"])
    overrides = {**job["config"], "train.epochs": job["epochs"], "train.patience": 0, "train.threads": job["threads"]}
    run = run_config(job["agent"], inputs.sections, overrides)
    posts = post_subset(inputs.examples, inputs.splits["train"], job["fraction"], inputs.hpo.a.seed)
    val = select(inputs.examples, val_subset(inputs, job["val_fraction"], inputs.hpo.a.seed))
    start = time.perf_counter()
    try:
        result = train(run, select(inputs.examples, posts), val)
    except DivergedError:  # stage A records such a trial as failed: here it ranks with the floor, 0, every epoch
        return {**job, "values": [0.0] * job["epochs"], "samples": 0, "seconds": time.perf_counter() - start,
                "diverged": True}
    return {**job, "values": [float(h["val"]["primary"]) for h in result.history],
            "samples": result.train_samples, "seconds": time.perf_counter() - start}


def _init_worker() -> None:
    quiet()


def key(job: dict) -> str:
    return json.dumps([job["agent"], job["config"], job["fraction"], job["epochs"], job["val_fraction"]],
                      sort_keys=True)


def reused(path: str | None, jobs: list[dict]) -> dict[str, dict]:
    """Runs of an earlier --out that this run would train again (same agent, config, fraction, epochs, val)."""
    if not path:
        return {}
    wanted = {key(j) for j in jobs}
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    return {key(r): r for r in rows if key(r) in wanted}


def parse_schedule(text: str) -> tuple[float, int]:
    fraction, epochs = text.lower().split("x")
    return float(fraction), int(epochs)


def fidelities(runs: list[dict], full: tuple[float, int]) -> tuple[pd.DataFrame, pd.Series]:
    """Per (config, fidelity): its value and trained examples. Returns the low fidelities and the full values."""
    rows = []
    for r in runs:
        tag = f"{r['fraction']:g}x"
        for e, _ in enumerate(r["values"], start=1):
            last = e == r["epochs"]
            name = f"{tag}{r['epochs']}" if last else f"{tag}{e}/{r['epochs']}"
            # a completed run reports its best epoch (stage A's trial value), a rung the epoch's own value
            value = max(r["values"][:e]) if last else r["values"][e - 1]
            rows.append({"config": r["index"], "fidelity": name, "full": (r["fraction"], r["epochs"]) == full and last,
                         "value": value, "samples": r["samples"] * e / r["epochs"],
                         "seconds": r["seconds"] * e / r["epochs"]})
    frame = pd.DataFrame(rows)
    full = frame[frame["full"]].set_index("config")["value"]
    return frame[~frame["full"]], full


def summarize(agent: str, low: pd.DataFrame, full: pd.Series, full_samples: float) -> str:
    print(f"  full fidelity over {len(full)} configs: min {full.min():.4f} median {full.median():.4f} "
          f"max {full.max():.4f} (best config #{int(full.idxmax())})")
    print(f"  {'fidelity':<10} {'cost':>6} {'spearman':>9} {'regret':>8} {'picked':>7} {'s/config':>9}")
    table = []
    for name, part in low.groupby("fidelity", sort=False):
        values = part.set_index("config")["value"].reindex(full.index)
        rho = float(values.rank().corr(full.rank()))
        picked = int(values.idxmax())
        regret = float(full.max() - full[picked])
        cost = float(part["samples"].mean() / full_samples)
        table.append((name, cost, rho, regret))
        print(f"  {name:<10} {cost:>6.3f} {rho:>9.3f} {regret:>8.4f} {'#' + str(picked):>7} "
              f"{part['seconds'].mean():>9.1f}")
    best_rho = max(rho for _, _, rho, _ in table)
    cheapest = min((t for t in table if t[2] >= best_rho - 0.05), key=lambda t: t[1])
    return f"{agent} best_fidelity={cheapest[0]} spearman={cheapest[2]:.3f} regret={cheapest[3]:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--agents", nargs="+", default=["criteria", "evidence"], choices=AGENTS)
    parser.add_argument("--configs", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0, help="RandomSampler seed of the configurations")
    parser.add_argument("--schedules", nargs="+", default=["0.2x2"], help="low-fidelity runs, FRACTIONxEPOCHS")
    parser.add_argument("--full", default="1x4", help="the full-fidelity run, FRACTIONxEPOCHS")
    parser.add_argument("--val-fraction", type=float, default=1.0, help="seeded share of the val posts scored")
    parser.add_argument("--workers", type=int, default=1, help="processes training side by side (spawned)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (train.threads; 0: default)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: criteria, 4 configs, schedule 0.1x2, full 0.3x2, 30%% of the val posts")
    parser.add_argument("--out", help="write every run as JSON lines here")
    parser.add_argument("--reuse", metavar="JSONL", help="take the runs an earlier --out holds instead of training them")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.configs, args.schedules, args.full, args.val_fraction = ["criteria"], 4, ["0.1x2"], "0.3x2", 0.3
    quiet()
    schedules = [parse_schedule(s) for s in args.schedules]
    full = parse_schedule(args.full)
    print(f"hpo_fidelity: agents {' '.join(args.agents)}, {args.configs} configs each (RandomSampler seed "
          f"{args.seed}, stage A space), schedules {' '.join(args.schedules)}, full {args.full}, val fraction {args.val_fraction:g}, {args.workers} worker(s), train.threads "
          f"{args.threads}")
    load = os.getloadavg()
    print(f"  load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs; "
          f"device {resolve_device()}")
    jobs = []
    for agent in args.agents:
        for i, config in enumerate(sample_configs(agent, args.params, args.configs, args.seed)):
            for fraction, epochs in [*schedules, full]:
                jobs.append({"agent": agent, "index": i, "config": config, "fraction": fraction, "epochs": epochs,
                             "val_fraction": args.val_fraction, "threads": args.threads, "params_path": args.params})
    done = reused(args.reuse, jobs)
    jobs = [j for j in jobs if key(j) not in done]
    jobs.sort(key=lambda j: -j["fraction"] * j["epochs"])  # longest first: workers finish together
    start = time.perf_counter()
    out = open(args.out, "w", encoding="utf-8") if args.out else None  # noqa: SIM115 (written as runs finish)
    runs = list(done.values())
    for r in runs if out else ():
        out.write(json.dumps(r) + "\n")
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        for future in as_completed([pool.submit(train_once, job) for job in jobs]):
            runs.append(future.result())
            if out:
                out.write(json.dumps({k: v for k, v in runs[-1].items() if k != "params_path"}) + "\n")
                out.flush()
    if out:
        out.close()
    print(f"  {len(runs) - len(done)} runs trained ({len(done)} reused) in {time.perf_counter() - start:.0f} s; "
          f"load average at end: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    lines = []
    for agent in args.agents:
        mine = [r for r in runs if r["agent"] == agent]
        low, values = fidelities(mine, full)
        full_samples = float(np.mean([r["samples"] for r in mine if (r["fraction"], r["epochs"]) == full
                                      and not r.get("diverged")]))
        if diverged := sum(1 for r in mine if r.get("diverged")):
            print(f"{agent}: {diverged} run(s) diverged (loss NaN): scored 0 at every epoch")
        print(f"{agent}: {len(values)} configs, full fidelity {args.full}: {full_samples:.0f} trained examples per "
              "config")
        lines.append(summarize(agent, low, values, full_samples))
    for line in lines:
        print(line)


if __name__ == "__main__":
    run_main(main)
