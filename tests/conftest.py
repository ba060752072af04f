"""Shared fixtures: the repo's params.yaml as every config's defaults, a small synthetic release written in the real
file format, and a project dir to run stages in."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from psy_agents import config
from psy_agents.data.criteria_text import SYMPTOMS

ROOT = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = ROOT.parent / "shared" / "external" / "redsm5-public-sample"
# The ReDSM5 authors' public sample lives beside the checkout (../shared), not in the repo: without it (a fresh
# clone elsewhere) the tests that read it skip
needs_public_sample = pytest.mark.skipif(not SHARED_SAMPLE.is_dir(),
                                         reason="../shared/external/redsm5-public-sample is absent")

# Where each config class lives in params.yaml: params.yaml holds every default, the dataclasses none.
SECTION_OF = {
    config.DataConfig: "data", config.MatchConfig: "data.match", config.SplitConfig: "split",
    config.ModelConfig: "model", config.TrainConfig: "train", config.AugmentConfig: "augment",
    config.BaselineConfig: "baseline", config.TfidfConfig: "tfidf", config.HpoConfig: "hpo",
    config.StageAConfig: "hpo.a", config.StageBConfig: "hpo.b", config.StageCConfig: "hpo.c",
    config.RefitConfig: "refit", config.BootstrapConfig: "bootstrap",
}


def repo_params() -> dict[str, Any]:
    """The repo's params.yaml, read as the stages read it (YAML 1.2, as `dvc exp run -S` writes it); a fresh copy."""
    return config.load_params(ROOT / "params.yaml")


def _merge(cls: type, values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """values with overrides set; a mapping given for a nested config changes only the keys it names."""
    hints = typing.get_type_hints(cls)
    return {**values, **{k: _merge(hints[k], values[k], v) if dataclasses.is_dataclass(hints.get(k)) else v
                         for k, v in overrides.items()}}


def defaults(cls: type, **overrides: Any) -> Any:
    """`cls` as params.yaml configures it, with `overrides` (e.g. defaults(HpoConfig, a={"n_trials": 2}))."""
    values: Any = repo_params()
    for part in SECTION_OF[cls].split("."):
        values = values[part]
    return config.build(cls, _merge(cls, values, overrides), SECTION_OF[cls])


def run_cfg(agent: str, sections: dict[str, dict[str, Any]] | None = None) -> config.RunConfig:
    """A run config as `psy-agents train --set` builds it: params.yaml with `sections` ({"model": {...}, "train":
    {...}}, the keys they change) set over it."""
    flat = {f"{section}.{key}": value for section, part in (sections or {}).items() for key, value in part.items()}
    return config.run_config(agent, repo_params(), flat)


def run_sections(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """params.yaml's model, train and augment sections and agent_defaults (what a stage's trials build on), with
    dotted overrides."""
    return config.apply_overrides({k: repo_params()[k] for k in (*config.RUN_SECTIONS, "agent_defaults")},
                                  overrides or {})


def write_params(root: Path, overrides: dict[str, Any] | None = None) -> Path:
    """root/params.yaml: the repo's params.yaml with dotted overrides, written as DVC writes it (YAML 1.2)."""
    path = root / "params.yaml"
    with path.open("w", encoding="utf-8") as fh:
        YAML(typ="safe", pure=True).dump(config.apply_overrides(repo_params(), overrides or {}), fh)
    return path


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


# A project of the groundtruth tests: the release in data/redsm5, three folds
RELEASE = {"data.source": "redsm5", "split.folds": 3}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project dir with params.yaml reading data/redsm5 (tests write the release there)."""
    write_params(tmp_path, RELEASE)
    return tmp_path


def run_stage(script: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / script), *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> str:
    """A randomly initialised tiny BERT saved to disk: usable anywhere a backbone name is (model.backbone)."""
    from tiny import save_tiny_backbone

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
