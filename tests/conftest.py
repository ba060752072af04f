"""Shared fixtures: a small synthetic release written in the real file format, and a project dir to run stages in."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from psy_agents.data.criteria_text import SYMPTOMS

ROOT = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = ROOT.parent / "shared" / "external" / "redsm5-public-sample"

PHRASES = {
    "DEPRESSED_MOOD": "I feel empty and sad every single day.",
    "ANHEDONIA": "Nothing I used to love gives me any joy now.",
    "APPETITE_CHANGE": "I barely eat and lost a lot of weight.",
    "SLEEP_ISSUES": "I lie awake until four every night.",
    "PSYCHOMOTOR": "My body feels slowed down like moving through mud.",
    "FATIGUE": "I am exhausted after the smallest chore.",
    "WORTHLESSNESS": "I am a burden and a failure to everyone.",
    "COGNITIVE_ISSUES": "I cannot focus on a single page of reading.",
    "SUICIDAL_THOUGHTS": "I keep thinking everyone would be better off without me.",
}


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8", newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, lineterminator=newline)
        writer.writerow(header)
        writer.writerows(rows)


def synthetic_release(n_posts: int = 60) -> tuple[list[list], list[list]]:
    """Posts cycle through the symptoms; every fifth post has none; a few rows are status 0."""
    posts, rows = [], []
    for i in range(n_posts):
        post_id = f"p{i:03d}"
        intro = f"Post number {i} here.\nJust some context about work and school."
        if i % 5 == 4:
            posts.append([post_id, intro + " We had pizza and I slept fine."])
            rows.append([post_id, f"{post_id}_3", "We had pizza and I slept fine.", "SLEEP_ISSUES", 0, "resolved"])
            continue
        symptom = SYMPTOMS[i % len(SYMPTOMS)]
        sentence = PHRASES[symptom]
        posts.append([post_id, f"{intro} {sentence} Thanks for reading."])
        rows.append([post_id, f"{post_id}_3", sentence, symptom, 1, "clear evidence"])
    return posts, rows


def write_release(directory: Path, posts: list[list], rows: list[list], **kwargs) -> None:
    write_csv(directory / "redsm5_posts.csv", ["post_id", "text"], posts, **kwargs)
    write_csv(
        directory / "redsm5_annotations.csv",
        ["post_id", "sentence_id", "sentence_text", "DSM5_symptom", "status", "explanation"],
        rows,
        **kwargs,
    )


PARAMS = """data:
  source: redsm5
  label_map: {LEEP_ISSUES: SLEEP_ISSUES}
  drop_labels: [SPECIAL_CASE]
  unknown_labels: %s
  unknown_posts: %s
  match: {fuzzy_threshold: 85}
split: {seed: 42, test_size: 0.15, val_size: 0.15, folds: %d}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project dir with params.yaml reading data/redsm5 (tests write the release there)."""
    (tmp_path / "params.yaml").write_text(PARAMS % ("fail", "drop", 3), encoding="utf-8")
    return tmp_path


def run_stage(script: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / script), *args], cwd=cwd, capture_output=True, text=True
    )
