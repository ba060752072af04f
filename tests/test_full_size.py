"""The full-size search (`make repro-full`, meant for a GPU) is a valid experiment: DVC applies its overrides to
params.yaml, and every stage's config and search space load from the result, with pair and depth in the space."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from psy_agents.config import AGENTS, HpoConfig, SplitConfig, build, load_params
from psy_agents.hpo.space import defaults_in_space, space_for


def full_size_overrides() -> list[str]:
    dry = subprocess.run(["make", "-s", "-n", "repro-full"], cwd=ROOT, capture_output=True, text=True, check=True)
    command = shlex.split(dry.stdout.strip().splitlines()[-1])
    assert command[:3] == ["dvc", "exp", "run"], command
    return command[3:]


def test_full_size_overrides_give_a_valid_search(tmp_path: Path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    # a one-stage DVC project that reads params.yaml: `dvc exp run -S` rewrites it exactly as on the real project
    (tmp_path / "dvc.yaml").write_text("stages:\n  show:\n    cmd: 'true'\n    params:\n      - model\n      - split\n"
                                       "      - search\n      - hpo\n")
    dvc = str(Path(sys.executable).with_name("dvc"))
    for cmd in (["git", "init", "-q"], [dvc, "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"],
                [dvc, "exp", "run", "-q", *full_size_overrides()]):
        result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr

    params = load_params(tmp_path / "params.yaml")
    assert params["model"]["num_layers"] is None
    assert build(SplitConfig, params["split"], "split").folds == 5
    hpo = build(HpoConfig, params["hpo"], "hpo")
    assert (hpo.a.n_trials, hpo.b.n_trials, hpo.c.candidates) == (40, 24, 3)
    for agent in AGENTS:
        for stage in ("a", "b"):
            space = space_for(params["search"], agent, stage)
            assert space["model.criterion_input"]["choices"] == ["heads", "pair"]
            assert "model.num_layers" in space  # common: 4 or all 6; criteria: its own 4-6
            defaults_in_space(space, {"model." + k: v for k, v in params["model"].items()})
