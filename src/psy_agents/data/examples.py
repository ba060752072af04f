"""Load the examples an agent trains on and select them by post (every split is a set of post ids)."""

from __future__ import annotations

from pathlib import Path

from psy_agents.data.io import read_json, read_jsonl
from psy_agents.errors import InputError

PROCESSED = Path("data/processed")


def load_examples(agent: str, processed: Path = PROCESSED) -> list[dict]:
    """criteria trains on sentence x criterion pairs; the span agents on post x criterion examples."""
    name = "criteria.jsonl" if agent == "criteria" else "evidence.jsonl"
    return read_jsonl(Path(processed) / name)


def load_splits(processed: Path = PROCESSED) -> dict:
    path = Path(processed) / "splits.json"
    splits = read_json(path)
    missing = [name for name in ("train", "val", "test", "folds") if name not in splits]
    if missing:
        raise InputError(f"{path}: missing split(s) {', '.join(missing)}; rerun `dvc repro groundtruth`")
    return splits


def select(examples: list[dict], post_ids) -> list[dict]:
    keep = set(post_ids)
    return [ex for ex in examples if ex["post_id"] in keep]
