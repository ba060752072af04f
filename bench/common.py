"""What the HPO benches share."""

from __future__ import annotations

import logging
import warnings

import optuna


def quiet() -> None:
    """Warnings and errors only, in the bench's process and in each worker it spawns: no line per trial, no
    "Loading weights" bar per run, no notice that a sampler option is experimental."""
    from transformers.utils import logging as transformers_logging

    logging.basicConfig(level=logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
