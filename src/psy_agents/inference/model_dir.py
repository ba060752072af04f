"""A trained model as a directory that loads in one call, with no knowledge of how it was trained.

Layout (what transformers reads is in its own layout, so AutoConfig / AutoTokenizer open the directory too):
  config.json, tokenizer files  the encoder's config (both encoders' for joint) and the tokenizer (save_pretrained)
  agent.safetensors             the weights of the agent model: its encoder(s) and heads (not named model.safetensors:
                                from_pretrained on the directory would take it for a bare encoder's and load nothing)
  run_config.json               the RunConfig it was trained with (agent, formulation, windows, batch size, precision)
  thresholds.json               what training fitted beside the weights: the decision and answer-vs-null thresholds
                                and the Platt calibration (evaluation.thresholds.Thresholds, by name), the prior-shift
                                correction and, for token spans, the longest answer in tokens (Readout, by name) (a
                                file a person can read, and edit to move a threshold)

A damaged directory (a file missing, not JSON, a key missing or of the wrong type) is an InputError naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoTokenizer, PreTrainedTokenizerBase

from psy_agents.config import RunConfig, run_config
from psy_agents.data.io import read_json, write_json
from psy_agents.errors import InputError
from psy_agents.evaluation.thresholds import Readout, Thresholds
from psy_agents.models.agents import build_model
from psy_agents.training.loop import resolve_device

WEIGHTS = "agent.safetensors"
RUN_CONFIG = "run_config.json"
FITTED = "thresholds.json"
REQUIRED = ("config.json", WEIGHTS, RUN_CONFIG, FITTED)
_FIX = "save the directory again (refit's models/<agent>/, or `psy-agents train --out`)"


@dataclass
class TrainedModel:
    """A loaded model directory: the agent model (eval mode, on the training code's device), its run config,
    tokenizer, thresholds (the saved decision / null / further thresholds and calibration) and readout (prior shift,
    longest answer: what turns the model's outputs into records)."""

    run: RunConfig
    model: nn.Module
    tokenizer: PreTrainedTokenizerBase
    path: Path
    thresholds: Thresholds
    readout: Readout


def save_model(directory: str | Path, run: RunConfig, model: nn.Module, readout: Readout, tokenizer,
               thresholds: Thresholds | None) -> Path:
    """Write `model` (trained with `run`; `readout`: that run's, TrainResult.readout), its `thresholds` and
    `tokenizer` to `directory` in the layout above."""
    if thresholds is None:
        raise InputError("the model has no fitted thresholds to save: train it with a validation split, or fix "
                         "train.threshold")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, directory / WEIGHTS, metadata={"format": "pt", "agent": run.agent})
    model.encoders[0].config.save_pretrained(directory)  # joint's two encoders share one architecture
    tokenizer.save_pretrained(directory)
    write_json(directory / RUN_CONFIG, run.to_dict())
    write_json(directory / FITTED, {**thresholds.to_dict(), **readout.to_dict()})
    return directory


def load_model(directory: str | Path, device: torch.device | str | None = None) -> TrainedModel:
    """Load a directory written by `save_model` (refit's models/<agent>/, `psy-agents train`'s <out>/model/).

    The encoders are built from the saved config without pretrained weights, then every weight comes from
    agent.safetensors, so neither the backbone nor the network is needed. `device`: default the training code's
    choice (CUDA when present)."""
    directory = Path(directory)
    missing = [name for name in REQUIRED if not (directory / name).is_file()]
    if missing:
        raise InputError(f"{directory}: not a model directory (no {', '.join(missing)}); point at models/<agent>/ "
                         "(written by `dvc repro`) or at <out>/model/ of `psy-agents train --out <out>`")
    saved = read_json(directory / RUN_CONFIG)
    try:
        if not isinstance(saved, dict):
            raise InputError(f"expected a mapping, got {type(saved).__name__}")
        run = run_config(saved.get("agent", ""), saved)
    except InputError as exc:
        raise InputError(f"{directory / RUN_CONFIG}: not a run config ({str(exc).split(';')[0]}); {_FIX}") from None
    fitted = read_json(directory / FITTED)
    try:
        thresholds, readout = Thresholds.from_dict(fitted), Readout.from_dict(fitted)
    except ValueError as exc:
        raise InputError(f"{directory / FITTED}: {exc}; {_FIX}") from None
    if run.agent != "criteria" and run.model.span_unit == "token" and not (readout.max_answer_tokens or 0) >= 1:
        raise InputError(f"{directory / FITTED}: a token-span model needs max_answer_tokens (a whole number >= 1); "
                         f"{_FIX}")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    with torch.random.fork_rng(devices=[]):  # the random init is overwritten; leave the caller's stream alone
        model = build_model(run.agent, run.model, backbone=AutoConfig.from_pretrained(directory))
    try:
        model.load_state_dict(load_file(directory / WEIGHTS), strict=True)
    except (SafetensorError, RuntimeError) as exc:
        raise InputError(f"{directory / WEIGHTS}: does not hold the weights of the model {RUN_CONFIG} and config.json "
                         f"describe ({_first_problem(exc)}); save the directory again") from None
    return TrainedModel(run, model.to(device or resolve_device()).eval(), tokenizer, directory, thresholds, readout)


def _first_problem(exc: Exception) -> str:
    """The first line of a load error that names a problem (load_state_dict lists them under a heading), shortened."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    line = lines[1] if len(lines) > 1 else lines[0]
    return line if len(line) <= 160 else line[:160] + "..."
