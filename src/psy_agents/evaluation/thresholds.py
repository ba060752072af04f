"""The thresholds that turn records into decisions: fitted on held-out records (scoring.fit_thresholds), carried by a
training run (TrainResult.thresholds), applied by scoring.decide, saved beside a model (thresholds.json) and in stage
C's best.yaml and the metrics files as the mapping of their names (`to_dict` / `from_dict`).

Beside them, `Readout`: what a run fixes from its training split to read its model's outputs into records (the
prior-shift correction, the longest answer), carried the same way (TrainResult.readout) and saved in the same
thresholds.json."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Thresholds:
    """decision: the threshold on the calibrated P(label 1); null and further (span agents): the answer-vs-null
    thresholds of a pair's best span and of its further sentences (answered when margin + threshold >= 0);
    calib_scale and calib_bias: the Platt calibration of the log-odds (1 and 0: none)."""

    decision: float
    null: float = 0.0
    further: float = 0.0
    calib_scale: float = 1.0
    calib_bias: float = 0.0

    def __post_init__(self) -> None:  # plain floats whatever computed them (numpy scalars): JSON and YAML write them
        for f in fields(self):
            object.__setattr__(self, f.name, float(getattr(self, f.name)))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Any) -> Thresholds:
        """From a mapping with a number for each name (other keys, e.g. thresholds.json's prior_shift, are left
        alone). ValueError, saying what is wrong, for anything else; callers name the file and the fix."""
        if not isinstance(values, Mapping):
            raise ValueError(f"expected a mapping of {', '.join(f.name for f in fields(cls))}, got "
                             f"{type(values).__name__}")
        lacking = [f.name for f in fields(cls) if not is_number(values.get(f.name))]
        if lacking:
            raise ValueError(f"no number for {', '.join(lacking)}")
        return cls(**{f.name: values[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class Readout:
    """What training fixes from its training split beside the weights, to turn the model's outputs into records
    (training.tasks, `records`): prior_shift, added to the classification log-odds so that they refer to the real
    class balance (training.tasks._Task.build_loss); max_answer_tokens, the longest span post-processing may answer
    (token span unit; None where answers are never cut short: criteria, sentence answers)."""

    prior_shift: float
    max_answer_tokens: int | None = None

    def __post_init__(self) -> None:
        # float32, as the logits it is added to are: the number saved is the number applied
        object.__setattr__(self, "prior_shift", float(np.float32(self.prior_shift)))
        if self.max_answer_tokens is not None:
            object.__setattr__(self, "max_answer_tokens", int(self.max_answer_tokens))

    def to_dict(self) -> dict[str, float | int]:
        """prior_shift, and max_answer_tokens where there is one."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: Any) -> Readout:
        """From a mapping with a number for prior_shift and, if present, a whole number for max_answer_tokens (other
        keys, e.g. thresholds.json's thresholds, are left alone). ValueError, saying what is wrong, for anything
        else; callers name the file and the fix."""
        if not isinstance(values, Mapping):
            raise ValueError(f"expected a mapping with prior_shift, got {type(values).__name__}")
        if not is_number(values.get("prior_shift")):
            raise ValueError("no number for prior_shift")
        tokens = values.get("max_answer_tokens")
        if "max_answer_tokens" in values and not (is_number(tokens) and float(tokens).is_integer()):
            raise ValueError("max_answer_tokens is not a whole number")
        return cls(values["prior_shift"], None if tokens is None else int(tokens))


def is_number(value: Any) -> bool:
    """A JSON / YAML number (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
