"""What an HPO stage (and refit) reads: its params sections, the search space, the examples and splits, its deps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psy_agents.config import HpoConfig, TfidfConfig, build, load_params
from psy_agents.data.examples import load_examples, load_splits
from psy_agents.hpo.identity import stage_deps
from psy_agents.hpo.storage import STORE

# The base config sections each stage reads (dvc.yaml params): stage A never augments, so it reads no `augment`.
SECTIONS = {"a": ("model", "train"), "b": ("model", "train", "augment"), "c": ("model", "train", "augment")}


@dataclass
class StageInputs:
    """What every HPO stage of one agent reads: base config sections, the search space, data and splits."""

    agent: str
    sections: dict[str, Any]  # params.yaml model / train (/ augment): what run_config sets each trial's values over
    search: dict[str, Any]
    hpo: HpoConfig
    tfidf: TfidfConfig  # stage C refits nlpaug's TF-IDF model on each fold's train part
    examples: list[dict]
    splits: dict
    out_dir: Path
    deps: tuple[str, ...] = ()  # the stage's deps in dvc.yaml: code and input files the study's name hashes
    store: Path = STORE  # the local study store, used when hpo.storage is empty


def stage_inputs(agent: str, stage: str, params_path: str = "params.yaml") -> StageInputs:
    params = load_params(params_path)
    return StageInputs(
        agent=agent,
        sections={k: params.get(k) for k in SECTIONS[stage]},
        search=params.get("search") or {},
        hpo=build(HpoConfig, params.get("hpo"), "hpo"),
        tfidf=build(TfidfConfig, params.get("tfidf"), "tfidf"),
        examples=load_examples(agent),
        splits=load_splits(),
        out_dir=Path("outputs") / agent / f"hpo_{stage}",
        deps=tuple(stage_deps(f"hpo_{stage}", agent, params)) if stage in ("a", "b") else (),
    )
