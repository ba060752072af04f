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


def copy_public_sample(project: Path) -> None:
    """The ReDSM5 authors' public sample as the project's redsm5 release (its texts stay out of the repo)."""
    import shutil

    target = project / "data" / "redsm5"
    target.mkdir(parents=True)
    shutil.copy(SHARED_SAMPLE / "redsm5_posts_sample_paraphrased.csv", target / "redsm5_posts.csv")
    shutil.copy(SHARED_SAMPLE / "redsm5_annotations_sample_paraphrased.csv", target / "redsm5_annotations.csv")

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


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> str:
    """A randomly initialised tiny BERT saved to disk: usable anywhere a backbone name is (model.backbone)."""
    from psy_agents.models.backbone import save_tiny_backbone

    return save_tiny_backbone(tmp_path_factory.mktemp("tiny-bert"))


def tiny_examples() -> tuple[list[dict], list[dict]]:
    """Criteria and evidence examples built like groundtruth's, in memory (no stage run needed)."""
    from psy_agents.data.criteria_text import criterion_id, description

    posts, rows = synthetic_release(20)
    positive = {(r[0], r[3]): r[2] for r in rows if r[4] == 1}
    criteria, evidence = [], []
    for r in rows:
        for symptom in SYMPTOMS:
            criteria.append({"post_id": r[0], "sentence_id": r[1], "sentence": r[2], "symptom": symptom,
                             "criterion": criterion_id(symptom), "criterion_text": description(symptom),
                             "label": int(symptom == r[3] and r[4] == 1)})
    for post_id, text in posts:
        for symptom in SYMPTOMS:
            sentence = positive.get((post_id, symptom))
            answers = [] if sentence is None else [
                {"start": text.index(sentence), "end": text.index(sentence) + len(sentence), "text": sentence}]
            evidence.append({"post_id": post_id, "symptom": symptom, "criterion": criterion_id(symptom),
                             "criterion_text": description(symptom), "post": text, "answers": answers,
                             "label": int(bool(answers))})
    return criteria, evidence
