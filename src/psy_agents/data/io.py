"""Deterministic JSON / JSONL writing and reading, shared by every stage (byte-identical reruns)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from psy_agents.errors import InputError


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def rounded(value: Any, digits: int = 4) -> Any:
    """Every float of a nested report rounded, so reports and metrics diff cleanly."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item, digits) for item in value]
    return value


def write_metrics(path: Path, headline: dict[str, int | float]) -> None:
    """A DVC metrics file: a few flat headline numbers, floats to 4 digits. `dvc metrics show` puts every key of
    every metrics file in one table, one column per key, so the files share short keys (primary, ece, seconds, ...)
    and keep detailed reports in plain outputs."""
    write_json(path, rounded(headline))


def dump_jsonl(rows: Iterable[dict], fh: TextIO) -> None:
    for row in rows:
        fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        dump_jsonl(rows, fh)


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: not found; run `dvc repro` to build it") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno}); rebuild it with the stage or "
                         "command that writes it") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not valid UTF-8; rebuild it with the stage or command that writes it") from None


def read_jsonl(path: Path) -> list[dict]:
    try:
        with Path(path).open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        raise InputError(f"{path}: not found; run `dvc repro groundtruth` to build it") from None
