"""The HPO search space, declared as data in params.yaml `search` and turned into Optuna suggestions.

Every hyperparameter is named by its dotted path into a RunConfig section (`train.lr`, `model.pooling`), so a
sampled value is by construction a field of what gets trained, and the same name is the Optuna parameter name
(trials.csv, topk.json and `enqueue_trial` all speak it). In params.yaml an entry may be written nested
(`train: {lr: {...}}`, which `dvc exp run -S search.common.train.lr.high=1e-4` can address) or with a dotted key
(`train.lr: {...}`); both flatten to the same space. A key an agent's agent_defaults fix (`criteria: {train:
{batch_size: 16}}`) leaves search.common for that agent; an entry of its own part searches it again.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from typing import Any

from psy_agents.config import AugmentConfig, ModelConfig, RunConfig, TrainConfig, apply_overrides, coerce
from psy_agents.errors import InputError

SECTIONS = {"model": ModelConfig, "train": TrainConfig, "augment": AugmentConfig}
# dotted name -> the field's type: a categorical's choices and a condition's values are checked against it at load
FIELDS = {f"{section}.{name}": tp for section, cls in SECTIONS.items()
          for name, tp in typing.get_type_hints(cls).items()}
ENTRY_KEYS = {"type", "low", "high", "log", "step", "choices", "condition"}
# A stage with a horizon (hpo.a.max_resource, hpo.b.epochs) sets these in every trial (hpo/search.py stage_fixed):
# its trials share one epoch horizon and no early stopping. They leave its space even where search.common or
# search.{agent} declares them (for stage B without a horizon, or for stage C and refit through the winner).
HORIZON_KEYS = ("train.epochs", "train.patience")


def flatten(part: Any, where: str, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Nested or dotted params entries -> {dotted key: entry} in declaration order (an entry is a mapping with
    `type`)."""
    if part is None:
        return {}
    if not isinstance(part, dict):
        raise InputError(f"params.yaml {where}: expected a mapping of hyperparameters, got {part!r}")
    out: dict[str, dict[str, Any]] = {}
    for name, value in part.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and "type" in value:
            out[key] = value
        elif isinstance(value, dict):
            out.update(flatten(value, where, f"{key}."))
        else:
            raise InputError(f"params.yaml {where}.{key}: expected an entry like {{type: float, low: .., high: ..}}")
    return out


def _number(value: Any, where: str) -> float:
    # PyYAML reads `1e-5` (no dot) as a string, a common trap in hand-written params
    if isinstance(value, bool):
        raise InputError(f"{where}: expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected a number, got {value!r}") from None


def _check_entry(key: str, entry: Any, where: str) -> None:
    if key not in FIELDS:
        raise InputError(f"{where}: {key} is not a config field; use section.field with a field of "
                         f"{', '.join(f'{s} ({c.__name__})' for s, c in SECTIONS.items())}")
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected a mapping with type and bounds or choices")
    if unknown := sorted(set(entry) - ENTRY_KEYS):
        raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ENTRY_KEYS))}")
    kind = entry.get("type")
    if kind == "categorical":
        choices = entry.get("choices")
        if not isinstance(choices, list) or not choices:
            raise InputError(f"{where}: categorical needs a non-empty list `choices: [...]`")
        if bad := [c for c in choices if c is not None and not isinstance(c, (bool, int, float, str))]:
            raise InputError(f"{where}: choices must be null, booleans, numbers or strings, not {bad[0]!r}")
        for choice in choices:  # a typo (`meen`) fails here, at the stage's start, not as FAILED trials
            coerce(FIELDS[key], choice, f"{where}.choices")
        return
    if kind not in ("float", "int"):
        raise InputError(f"{where}: type {kind!r} unknown; use float | int | categorical")
    if "low" not in entry or "high" not in entry:
        raise InputError(f"{where}: {kind} needs both `low` and `high`")
    low, high = _number(entry["low"], f"{where}.low"), _number(entry["high"], f"{where}.high")
    if low > high:
        raise InputError(f"{where}: low {low} > high {high}; swap them")
    if entry.get("log") and low <= 0:
        raise InputError(f"{where}: log scale needs low > 0 (got {low}); raise low or drop `log`")
    if entry.get("log") and entry.get("step") is not None:
        raise InputError(f"{where}: Optuna cannot combine `log` and `step`; drop one")
    if kind == "int" and not (low.is_integer() and high.is_integer()):
        raise InputError(f"{where}: int bounds must be whole numbers")
    if entry.get("step") is not None and _number(entry["step"], f"{where}.step") <= 0:
        raise InputError(f"{where}: step must be > 0")


def _check_condition(key: str, entry: dict[str, Any], space: dict[str, Any], where: str) -> None:
    """A condition names a key declared earlier in the space or a fixed config field, and values it can take."""
    condition = entry.get("condition")
    if condition is None:
        return
    if not isinstance(condition, dict) or not condition:
        raise InputError(f"{where}.condition: expected a mapping like {{train.loss: focal}}")
    order = list(space)
    for other, allowed in condition.items():
        if other in space:
            if order.index(other) > order.index(key):
                raise InputError(f"{where}.condition: {other} is declared after {key}; declare it first")
            choices = space[other].get("choices")
            wanted = allowed if isinstance(allowed, list) else [allowed]
            if choices is not None and (missing := [v for v in wanted if v not in choices]):
                raise InputError(f"{where}.condition: {other} never takes {missing[0]!r}; choices are {choices}")
        elif other not in FIELDS:
            raise InputError(f"{where}.condition: {other} is neither declared in the search space nor a config field")
        else:
            for value in allowed if isinstance(allowed, list) else [allowed]:
                coerce(FIELDS[other], value, f"{where}.condition.{other}")


def validate_space(space: dict[str, Any], where: str = "search", origin: dict[str, str] | None = None) -> None:
    """Raise InputError naming `params.yaml <where>.<key>` and the fix for the first bad entry of a flat space.

    `origin` maps a key to the params part it came from (space_for merges parts) so errors point at the right line.
    """
    for key, entry in space.items():
        at = f"params.yaml {(origin or {}).get(key, where)}.{key}"
        _check_entry(key, entry, at)
        _check_condition(key, entry, space, at)


def space_for(search: dict[str, Any] | None, agent: str, stage: str, fixed: Iterable[str] = (),
              horizon: bool | None = None) -> dict[str, dict[str, Any]]:
    """Flat, validated space of one agent and stage: common + agent part (+ augment part in stage B), without
    HORIZON_KEYS where the stage has a horizon (None: stage A, which always has one; stage B where hpo.b.epochs is
    set, StageInputs.space), and without the common entries of `fixed` (the dotted keys of the agent's
    agent_defaults, config.agent_defaults) unless the agent's part declares them too.

    An agent entry with the key of a common one replaces it in place, so conditions declared in common still see
    their key first.
    """
    search = search or {}
    if horizon is None:
        horizon = stage == "a"
    parts = ["common", agent] + (["augment"] if stage == "b" else [])
    left_out = set(fixed) - set(flatten(search.get(agent), f"search.{agent}"))
    space: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    for part in parts:
        for key, entry in flatten(search.get(part), f"search.{part}").items():
            if (horizon and key in HORIZON_KEYS) or (part == "common" and key in left_out):
                continue
            if stage == "a" and key.startswith("augment."):
                raise InputError(f"params.yaml search.{part}.{key}: augmentation joins the search in stage B only "
                                 f"(stage A never augments); declare it under search.augment")
            space[key] = entry
            origin[key] = f"search.{part}"
    validate_space(space, origin=origin)
    return space


def _condition_met(condition: dict[str, Any] | None, sampled: dict[str, Any], base: dict[str, Any]) -> bool:
    for other, allowed in (condition or {}).items():
        value = sampled[other] if other in sampled else base.get(other)
        if value not in (allowed if isinstance(allowed, list) else [allowed]):
            return False
    return True


def _sample(trial: Any, key: str, entry: dict[str, Any]) -> Any:
    kind = entry["type"]
    if kind == "categorical":
        return trial.suggest_categorical(key, entry["choices"])
    low, high, log, step = float(entry["low"]), float(entry["high"]), bool(entry.get("log")), entry.get("step")
    if kind == "int":
        return trial.suggest_int(key, int(low), int(high), step=int(step or 1), log=log)
    return trial.suggest_float(key, low, high, step=None if step is None else float(step), log=log)


def suggest(trial: Any, space: dict[str, dict[str, Any]], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sample the space in declaration order; entries whose condition is unmet are skipped (not in the result).

    A condition is checked against the values sampled so far, then against `base` (flat dotted defaults, see
    base_values), so `condition: {train.loss: focal}` also works when train.loss is fixed rather than searched.
    """
    base = base or {}
    sampled: dict[str, Any] = {}
    for key, entry in space.items():
        if _condition_met(entry.get("condition"), sampled, base):
            sampled[key] = _sample(trial, key, entry)
    return sampled


def defaults_in_space(space: dict[str, dict[str, Any]], base: dict[str, Any]) -> dict[str, Any]:
    """The base config's values of the searched keys, where the space can take them (a trial to enqueue).

    A default outside its range or choices, or under an unmet condition, is left out: the sampler draws it.
    """
    chosen: dict[str, Any] = {}
    for key, entry in space.items():
        value = base.get(key)
        if not _condition_met(entry.get("condition"), chosen, base) or value is None or isinstance(value, bool):
            continue
        if entry["type"] == "categorical":
            ok = value in entry["choices"]
        else:
            ok = isinstance(value, (int, float)) and float(entry["low"]) <= value <= float(entry["high"])
            ok = ok and (entry["type"] == "float" or float(value).is_integer())
        if ok:
            chosen[key] = value
    return chosen


def base_values(config: RunConfig) -> dict[str, Any]:
    """Flat dotted view of a RunConfig's sections: the `base` that suggest checks conditions against."""
    return {f"{section}.{name}": value for section in SECTIONS if getattr(config, section) is not None
            for name, value in dataclasses.asdict(getattr(config, section)).items()}


def to_sections(flat: dict[str, Any]) -> dict[str, Any]:
    """{"train.lr": 1e-4, "model.pooling": "mean"} -> {"train": {"lr": 1e-4}, "model": {"pooling": "mean"}}."""
    return apply_overrides({}, flat)
