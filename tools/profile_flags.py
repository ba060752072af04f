"""Print a params profile (profiles/<name>.yaml: a nested subset of params.yaml) as `dvc exp run` arguments.

    eval "dvc exp run $(python tools/profile_flags.py profiles/full.yaml)"     (what `make repro-full` runs)

Each value the profile sets becomes one `-S key=value` in the override grammar DVC's -S reads (Hydra's): a mapping
params.yaml also holds is walked into, so only the keys the profile names change; a key params.yaml lacks is added
with `+key=value`, its whole value at once; lists and mappings are written as [a, b] and {k: v}. The arguments are
shell-quoted, one line: `eval` (or the shell) splits them back into the exact `-S` values.
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
from pathlib import Path
from typing import Any

from psy_agents.config import load_params
from psy_agents.errors import InputError, run_main

PLAIN = re.compile(r"[A-Za-z_][\w\-./]*")  # a string the grammar reads back unquoted, as that string
KEY = re.compile(r"[A-Za-z_][\w\-.]*")  # a mapping key the grammar takes (it has no quoted keys)
WORDS = {"null", "true", "false", "inf", "nan"}  # read as null, booleans and floats unless quoted


def render(value: Any, where: str) -> str:
    """One value in the override grammar: null, true/false, numbers, strings (quoted where needed), [..], {..}."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else {"inf": "inf", "-inf": "-inf"}.get(repr(value), "nan")
    if isinstance(value, str):
        if PLAIN.fullmatch(value) and value.lower() not in WORDS:
            return value
        for quote in ("'", '"'):
            if quote not in value and "\\" not in value:
                return f"{quote}{value}{quote}"
        raise InputError(f"{where}: {value!r} holds both quote characters or a backslash; the profile cannot pass it")
    if isinstance(value, list):
        return "[" + ", ".join(render(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str) or not KEY.fullmatch(key):
                raise InputError(f"{where}: key {key!r}: use letters, digits, _, - and .")
        return "{" + ", ".join(f"{k}: {render(v, f'{where}.{k}')}" for k, v in value.items()) + "}"
    raise InputError(f"{where}: {value!r} is not a YAML scalar, list or mapping")


def overrides(profile: dict[str, Any], params: dict[str, Any], prefix: str = "") -> list[str]:
    """`key=value` for every value the profile sets, `+key=value` where params.yaml has no such key."""
    out = []
    for key, value in profile.items():
        if not isinstance(key, str) or not KEY.fullmatch(key) or "." in key:
            raise InputError(f"profile {prefix}{key!r}: write nested mappings, one key per level")
        path = f"{prefix}{key}"
        if key not in params:
            out.append(f"+{path}={render(value, path)}")
        elif isinstance(params[key], dict) and isinstance(value, dict):
            out += overrides(value, params[key], f"{path}.")
        elif isinstance(params[key], dict) or isinstance(value, dict):
            raise InputError(f"profile {path}: one of params.yaml and the profile holds a section there, the other "
                             "a value; a profile changes values inside params.yaml's sections")
        else:
            out.append(f"{path}={render(value, path)}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", help="a profile file, e.g. profiles/full.yaml")
    parser.add_argument("--params", default="params.yaml", help="the params file the profile applies to")
    args = parser.parse_args(argv)
    profile = load_params(Path(args.profile))  # YAML 1.2, as params.yaml is read
    print(" ".join(f"-S {shlex.quote(o)}" for o in overrides(profile, load_params(args.params))))


if __name__ == "__main__":
    run_main(main)
