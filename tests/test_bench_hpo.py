"""The search benches' arithmetic: fidelity rankings (bench/hpo_fidelity.py) and budget curves (bench/hpo_search.py).
Their training runs are the pipeline's own code, tested elsewhere; a wrong rank or budget here would misstate which
fidelity to trust and whether the chain beats random search."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import hpo_fidelity  # noqa: E402
import hpo_search  # noqa: E402


def run(index: int, fraction: float, epochs: int, values: list[float], **extra) -> dict:
    return {"agent": "evidence", "index": index, "config": {"train.lr": index + 1}, "fraction": fraction,
            "epochs": epochs, "values": values, "samples": int(100 * fraction * epochs), "seconds": 1.0, **extra}


def test_fidelities_rank_each_low_fidelity_against_full_and_price_its_pick(capsys):
    full = [0.1, 0.4, 0.3, 0.2]
    runs = [run(i, 1.0, 2, [v - 0.05, v]) for i, v in enumerate(full)]
    # 0.2x2: epoch 1 ranks configs in reverse, the completed run (best epoch) as full fidelity does
    runs += [run(i, 0.2, 2, [1.0 - v, v / 2]) for i, v in enumerate(full)]
    low, values = hpo_fidelity.fidelities(runs, (1.0, 2))
    assert list(values) == full  # the full run's best epoch
    assert set(low["fidelity"]) == {"0.2x1/2", "0.2x2", "1x1/2"}
    # a completed run reports its best epoch so far, a rung its epoch's own value
    assert low[(low.fidelity == "0.2x2") & (low.config == 0)]["value"].item() == pytest.approx(0.9)
    line = hpo_fidelity.summarize("evidence", low, values, full_samples=200)
    out = capsys.readouterr().out
    rows = {r.split()[0]: r.split() for r in out.splitlines() if r.strip().startswith(("0.2x", "1x"))}
    assert float(rows["0.2x1/2"][2]) == pytest.approx(-1.0)  # reversed ranking
    assert float(rows["0.2x1/2"][3]) == pytest.approx(0.3)  # it picks the worst config: regret 0.4 - 0.1
    assert float(rows["1x1/2"][2]) == pytest.approx(1.0) and float(rows["1x1/2"][3]) == 0.0
    assert float(rows["0.2x1/2"][1]) == pytest.approx(0.1)  # 20 of the full run's 200 trained examples
    assert line.startswith("evidence best_fidelity=1x1/2 ")  # the cheapest within 0.05 of the best Spearman


def test_random_search_picks_by_validation_and_pays_for_every_trial(tmp_path):
    rows = [run(i, 1.0, 4, v, **({"diverged": True} if i == 1 else {}))
            for i, v in enumerate([[0.2, 0.3], [0.0, 0.0], [0.5, 0.4], [0.1, 0.1]])]
    rows.append(run(0, 0.2, 2, [0.9, 0.9]))  # a low-fidelity run is no random-search trial
    path = tmp_path / "fidelity.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    pool = hpo_search.random_pool(str(path), "evidence", 4)
    assert [t["value"] for t in pool] == [0.3, None, 0.5, 0.1]
    assert pool[0]["params"] == {"train.lr": 1, "train.epochs": 4, "train.patience": 0}
    curve = [(budget, pick["train.lr"]) for budget, pick in hpo_search.picks(pool)]
    assert curve == [(4.0, 1), (8.0, 1), (12.0, 3), (16.0, 3)]  # a diverged trial costs, never wins
    assert hpo_search.at_budget(curve, 11.9) == 1 and hpo_search.at_budget(curve, 12.0) == 3
    assert hpo_search.at_budget(curve, 3.0) != hpo_search.at_budget(curve, 3.0)  # nothing bought yet: nan
    with pytest.raises(SystemExit, match="no criteria run at full fidelity"):
        hpo_search.random_pool(str(path), "criteria", 4)
