"""What an HPO stage (and refit) reads: its params sections, the search space, the examples and splits, its deps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psy_agents.config import HpoConfig, TfidfConfig, agent_defaults, build, load_params
from psy_agents.data.examples import load_examples, load_splits
from psy_agents.hpo.identity import stage_deps
from psy_agents.hpo.space import space_for
from psy_agents.hpo.storage import STORE

# The base config sections each stage reads (dvc.yaml params): stage A never augments, so it reads no `augment`.
# Every stage also reads its agent's part of agent_defaults (dvc.yaml: agent_defaults.${item}).
SECTIONS = {"a": ("model", "train"), "b": ("model", "train", "augment"), "c": ("model", "train", "augment")}


@dataclass
class StageInputs:
    """What every HPO stage of one agent reads: base config sections, the search space, data and splits."""

    agent: str
    # params.yaml model / train (/ augment) and the agent's agent_defaults: what run_config sets a trial's values over
    sections: dict[str, Any]
    search: dict[str, Any]
    hpo: HpoConfig
    tfidf: TfidfConfig  # stage C refits nlpaug's TF-IDF model on each fold's train part
    examples: list[dict]
    splits: dict
    out_dir: Path
    deps: tuple[str, ...] = ()  # the stage's deps: code and input files the study's name hashes
    store: Path = STORE  # the local study store, used when hpo.storage is empty

    def space(self, stage: str) -> dict[str, dict[str, Any]]:
        """The agent's search space in `stage`, without the keys its agent_defaults or the stage's horizon fix
        (hpo/space.py)."""
        horizon = stage in ("a", "b") and getattr(self.hpo, stage).horizon is not None
        return space_for(self.search, self.agent, stage, agent_defaults(self.sections, self.agent), horizon)


def stage_inputs(agent: str, stage: str, params_path: str = "params.yaml") -> StageInputs:
    params = load_params(params_path)
    agent_defaults(params, agent)  # a bad section fails here, before any trial
    own = {"agent_defaults": {agent: (params.get("agent_defaults") or {}).get(agent) or {}}}  # not other agents'
    return StageInputs(
        agent=agent,
        sections={**{k: params.get(k) for k in SECTIONS[stage]}, **own},
        search=params.get("search") or {},
        hpo=build(HpoConfig, params.get("hpo"), "hpo"),
        tfidf=build(TfidfConfig, params.get("tfidf"), "tfidf"),
        examples=load_examples(agent),
        splits=load_splits(),
        out_dir=Path("outputs") / agent / f"hpo_{stage}",
        deps=tuple(stage_deps(stage, agent)) if stage in ("a", "b") else (),
    )
