"""The full-size search (`make repro-full`, meant for a GPU) is profiles/full.yaml, a params overlay that
tools/profile_flags.py turns into `dvc exp run -S` arguments: the arguments parse back to the overlay, DVC applies
exactly the overlay to params.yaml, and every stage's config and search space load from the result."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import ROOT, repo_params
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType

from psy_agents.config import (
    AGENTS,
    HpoConfig,
    SplitConfig,
    agent_defaults,
    apply_overrides,
    build,
    load_params,
    run_config,
)
from psy_agents.errors import InputError
from psy_agents.hpo.space import base_values, defaults_in_space, space_for, suggest

sys.path.insert(0, str(ROOT / "tools"))  # a development tool, outside the installed package
import profile_flags  # noqa: E402

PROFILE = ROOT / "profiles" / "full.yaml"
VENV_PATH = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def merged(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """base with the overlay's values set: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in overlay.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = merged(base[key], value) if both else value
    return out


def leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        out.update(leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def make_arguments() -> list[str]:
    """The arguments `make repro-full` gives `dvc`: its recipe run with a `dvc` that prints them."""
    dry = subprocess.run(["make", "-s", "-n", "repro-full"], cwd=ROOT, capture_output=True, text=True, check=True)
    recipe = dry.stdout.strip().splitlines()[-1]
    fake = 'dvc() { python -c "import json, sys; print(json.dumps(sys.argv[1:]))" "$@"; }; '
    run = subprocess.run(["bash", "-c", fake + recipe], cwd=ROOT, capture_output=True, text=True, env=VENV_PATH)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_the_profile_changes_only_values_params_yaml_does_not_already_hold():
    params, profile = leaves(repo_params()), leaves(load_params(PROFILE))
    same = [key for key, value in profile.items() if key in params and params[key] == value]
    assert not same, f"profiles/full.yaml sets {same} to params.yaml's own value"


def test_the_printed_flags_parse_back_to_the_profile():
    params, profile = repo_params(), load_params(PROFILE)
    printed = subprocess.run([sys.executable, str(ROOT / "tools" / "profile_flags.py"), str(PROFILE)], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    words = shlex.split(printed)
    assert words[::2] == ["-S"] * (len(words) // 2)
    rebuilt: dict[str, Any] = {}
    for override in OverridesParser.create().parse_overrides(words[1::2]):  # the grammar DVC's -S parses
        key = override.key_or_group
        # `+key` (add) exactly where params.yaml lacks the key: Hydra refuses either on the other
        assert override.type == (OverrideType.CHANGE if holds(params, key) else OverrideType.ADD), key
        rebuilt = apply_overrides(rebuilt, {key: override.value()})
    assert rebuilt == profile


def holds(tree: dict[str, Any], dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


def test_make_repro_full_passes_the_profile_flags_to_dvc_exp_run():
    flags = profile_flags.overrides(load_params(PROFILE), repo_params())
    assert make_arguments() == ["exp", "run", *[w for flag in flags for w in ("-S", flag)]]


@pytest.mark.parametrize("value, text", [
    (None, "null"), (True, "true"), (3e-05, "3e-05"), (8, "8"), ("heads", "heads"), ("null", "'null'"),
    ("all-MiniLM-L6-v2", "all-MiniLM-L6-v2"), ("a b", "'a b'"), ("it's", '"it\'s"'),
    ([4, None], "[4, null]"), ({"type": "int", "low": 2}, "{type: int, low: 2}"),
    ({"model.head_layers": 2}, "{model.head_layers: 2}"),
])
def test_values_are_written_in_the_override_grammar(value, text):
    assert profile_flags.render(value, "x") == text
    assert OverridesParser.create().parse_override(f"x={text}").value() == value


def test_a_section_replaced_by_a_value_is_refused():
    with pytest.raises(InputError, match="profile model: one of params.yaml and the profile holds a section"):
        profile_flags.overrides({"model": 3}, repo_params())
    with pytest.raises(InputError, match="nested mappings"):
        profile_flags.overrides({"model.num_layers": None}, repo_params())


def test_the_profile_applies_and_every_stage_loads(tmp_path: Path):
    (tmp_path / "params.yaml").write_bytes((ROOT / "params.yaml").read_bytes())
    # a one-stage DVC project that reads params.yaml: `dvc exp run -S` rewrites it exactly as on the real project
    (tmp_path / "dvc.yaml").write_text("stages:\n  show:\n    cmd: 'true'\n    params:\n      - model\n      - split\n"
                                       "      - search\n      - hpo\n")
    dvc = str(Path(sys.executable).with_name("dvc"))
    for cmd in (["git", "init", "-q"], [dvc, "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"],
                [dvc, "-q", *make_arguments()]):
        result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr

    params = load_params(tmp_path / "params.yaml")
    assert params == merged(repo_params(), load_params(PROFILE))  # the overlay, nothing more, nothing less
    assert params["model"]["num_layers"] is None
    assert build(SplitConfig, params["split"], "split").folds == 5
    hpo = build(HpoConfig, params["hpo"], "hpo")
    assert (hpo.a.n_trials, hpo.b.n_trials, hpo.c.candidates) == (40, 24, 3)
    for agent in AGENTS:
        fixed = agent_defaults(params, agent)
        for stage in ("a", "b"):
            space = space_for(params["search"], agent, stage, fixed)
            assert space["model.criterion_input"]["choices"] == ["heads", "pair"]
            assert "model.num_layers" in space  # common: 4 or all 6; criteria: its own 4-6
            base = base_values(run_config(agent, params))
            defaults_in_space(space, base)
            run_config(agent, params, suggest(optuna.create_study().ask(), space, base))
        # what agent_defaults fixes in params.yaml, the profile searches
        space = space_for(params["search"], agent, "b", fixed)
        assert space["train.batch_size"]["choices"] == [8, 16, 32] and space["train.epochs"]["type"] == "int"
        assert (space["train.epochs"]["low"], space["train.epochs"]["high"]) == {
            "criteria": (3, 8), "evidence": (4, 6)}.get(agent, (2, 6))
