"""The one training loop: every agent, every HPO trial, CV fold and refit goes through `train`.

Flat and readable on purpose: seed, build, then for each epoch draw the epoch's training features (negatives
subsampled, augmented texts re-tokenised), step with gradient accumulation and clipping under autocast, evaluate,
hand the metrics to the callbacks (dvclive, Optuna's report/prune), stop early on the primary metric. The best
epoch's weights are restored at the end.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from psy_agents.config import Precision, RunConfig
from psy_agents.data.tokenize import MODEL_INPUTS, collate, length_batches
from psy_agents.errors import InputError
from psy_agents.evaluation.scoring import cross_fitted, decide, fit_thresholds, score
from psy_agents.evaluation.thresholds import Readout, Thresholds
from psy_agents.models.agents import build_model, start_from_descriptions
from psy_agents.models.backbone import load_tokenizer
from psy_agents.training.optim import build_optimizer, build_scheduler
from psy_agents.training.tasks import make_task, needs_calibration, predict

log = logging.getLogger(__name__)

# callback(epoch, train_loss, val_metrics or None); may raise (e.g. optuna.TrialPruned) to stop the run.
EpochCallback = Callable[[int, float, dict | None], None]


class DivergedError(RuntimeError):
    """The loss became NaN or infinite: the configuration cannot be trained (HPO records the trial as failed)."""


@dataclass
class TrainResult:
    model: torch.nn.Module
    readout: Readout  # what turns the model's outputs into records, fixed on the training split (prior shift, ...)
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0  # 1-based; 0 when no validation split was given
    best_metrics: dict | None = None
    best_predictions: list[dict] | None = None  # under the thresholds the model keeps; best_metrics are cross-fitted
    # what decides the model's predictions (fitted on the best epoch's validation records, or train.threshold); None
    # when nothing was fitted (no validation split): then nothing may score it
    thresholds: Thresholds | None = None
    epochs_run: int = 0
    train_samples: int = 0
    seconds: float = 0.0
    threads: int = 0  # torch's intra-op threads: reductions split by thread, so the numbers depend on it


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def deterministic_kernels(device: torch.device) -> None:
    """Same inputs, same numbers, whatever else runs on the machine.

    CPU: at a fixed thread count the kernels of these models are deterministic (measured: bit-identical records
    across processes, PYTHONHASHSEED values and a machine loaded by other processes), so nothing is switched here;
    torch's deterministic mode changes none of their results and would fill every torch.empty with NaN. The thread
    count itself (train.threads; 0: torch's default, from the CPU affinity and OMP_NUM_THREADS / MKL_NUM_THREADS,
    not from the load) does change the numbers. OMP_DYNAMIC=true would let OpenMP shrink the thread team with the
    machine's load, and oneDNN's bf16 matmuls then return NaN: refused.
    CUDA: torch's deterministic implementations where it has them (e.g. gather's backward instead of an atomic
    scatter_add) and cuBLAS's fixed workspace; warn_only, so an op without one warns instead of stopping the run.
    """
    if os.environ.get("OMP_DYNAMIC", "").strip().lower() == "true":
        raise InputError("OMP_DYNAMIC=true lets OpenMP shrink torch's thread team with the machine's load: results "
                         "would depend on what runs beside the run, and bf16 matmuls return NaN; unset OMP_DYNAMIC")
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS first runs in the process
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def resolve_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _cpu_has_native_bf16() -> bool:
    # Without AVX512-BF16 / AMX, bf16 on the CPU is emulated and slower than fp32.
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(precision: Precision, device: torch.device) -> torch.dtype | None:
    if precision == "fp32":
        return None
    supported = torch.cuda.is_bf16_supported() if device.type == "cuda" else _cpu_has_native_bf16()
    if precision == "bf16" and not supported:
        log.warning("bf16 requested but not natively supported on %s; it will be slow", device)
        return torch.bfloat16
    return torch.bfloat16 if supported else None


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _predictor(run: RunConfig, tokenizer, device: torch.device):
    """Batched inference with the run's eval batch size and precision: validation in train, test in refit."""
    autocast = partial(_autocast, device, autocast_dtype(run.train.precision, device))
    return partial(predict, batch_size=run.train.eval_batch_size, pad_id=tokenizer.pad_token_id or 0, device=device,
                   autocast=autocast)


def train(
    run: RunConfig,
    train_examples: list[dict],
    val_examples: list[dict] | None,
    callbacks: tuple[EpochCallback, ...] = (),
    augmenter=None,
    progress: bool = False,
) -> TrainResult:
    """Train `run` on train_examples; evaluate on val_examples each epoch (None: train all epochs, no selection).

    `augmenter` (psy_agents.augment) rewrites training texts freshly each epoch.
    """
    cfg = run.train
    start = time.perf_counter()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    device = resolve_device()
    deterministic_kernels(device)
    log.info("%s: %d torch thread(s) (train.threads=%d)", run.agent, torch.get_num_threads(), cfg.threads)
    dtype = autocast_dtype(cfg.precision, device)
    autocast = partial(_autocast, device, dtype)
    tokenizer = load_tokenizer(run.model.backbone)
    pad_id = tokenizer.pad_token_id or 0
    task = make_task(run, tokenizer)
    model = build_model(run.agent, run.model).to(device)
    if run.model.criterion_init == "descriptions":
        start_from_descriptions(model, tokenizer)

    train_features = task.features(train_examples)
    val_features = task.features(val_examples) if val_examples else None
    loss_module = task.build_loss(train_features)
    if loss_module is not None:
        loss_module.to(device)
    readout = task.readout(train_features, train_examples)
    thresholds = task.fixed_thresholds() if cfg.threshold is not None else None
    rng = np.random.default_rng(cfg.seed)
    steps_per_epoch = math.ceil(len(task.epoch(train_features, np.random.default_rng(0))[1]) / cfg.batch_size)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, max(1, math.ceil(steps_per_epoch / cfg.grad_accum) * cfg.epochs))
    predict_fn = _predictor(run, tokenizer, device)

    result = TrainResult(model=model, readout=readout, threads=torch.get_num_threads(), thresholds=thresholds)
    best_score, best_state, stale = -math.inf, None, 0
    bar = tqdm(total=cfg.epochs * steps_per_epoch, desc=f"{run.agent}", disable=not progress, leave=False)
    for epoch in range(1, cfg.epochs + 1):
        features = train_features
        if augmenter is not None:
            features = task.features(augmenter.augment_examples(train_examples, epoch), cache=False)
        features, indices = task.epoch(features, rng)
        lengths = [len(features.columns["input_ids"][i]) for i in indices]
        model.train()
        total, count = 0.0, 0
        batches = [[indices[j] for j in b] for b in length_batches(lengths, cfg.batch_size, rng)]
        for step, batch_indices in enumerate(batches):
            batch = {k: v.to(device) for k, v in collate(features, batch_indices, pad_id).items()}
            with autocast():
                outputs = model(**{k: batch[k] for k in MODEL_INPUTS if k in batch})
            loss = task.loss(outputs, batch)
            if not torch.isfinite(loss):
                raise DivergedError(f"loss is {loss.item()} at epoch {epoch}, step {step}")
            (loss / cfg.grad_accum).backward()
            if (step + 1) % cfg.grad_accum == 0 or step + 1 == len(batches):
                if cfg.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            total += loss.item() * len(batch_indices)
            count += len(batch_indices)
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{total / count:.4f}")
        result.train_samples += count
        result.epochs_run = epoch
        train_loss = total / max(count, 1)

        metrics = predictions = None
        if val_features is not None:
            records = task.records(model, val_features, val_examples, predict_fn, readout)
            if cfg.threshold is None:
                # The thresholds the model keeps: fitted on all validation records, never on examples it trained
                # on. The metrics that select and report the run are cross-fitted: scored on the records the
                # thresholds were fitted on, primary would be inflated and a Platt-calibrated ECE near 0.
                thresholds = fit_thresholds(run.agent, records, needs_calibration(run))
                metrics = {**cross_fitted(run.agent, records, needs_calibration(run))[0],
                           "thresholds": thresholds.to_dict()}
                predictions = decide(run.agent, records, thresholds)  # what the kept model predicts
            else:  # fixed by hand: nothing is fitted on the records scored
                metrics, predictions = score(run.agent, records, thresholds)
        result.history.append({"epoch": epoch, "train_loss": train_loss, "val": metrics})
        for callback in callbacks:
            callback(epoch, train_loss, metrics)
        if metrics is None:
            continue
        if metrics["primary"] > best_score + cfg.min_delta:
            best_score, stale = metrics["primary"], 0
            best_state = copy.deepcopy(model.state_dict())
            result.best_epoch, result.best_metrics, result.best_predictions = epoch, metrics, predictions
            result.thresholds = thresholds
        else:
            stale += 1
            if cfg.patience and stale >= cfg.patience:
                log.info("early stop at epoch %d: no gain over %d epochs", epoch, stale)
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:  # no epoch was selected: the model is the last epoch's, and so are its thresholds
        result.thresholds = thresholds
    result.seconds = time.perf_counter() - start
    return result


def evaluate(run: RunConfig, model: torch.nn.Module, readout: Readout, examples: list[dict],
             thresholds: Thresholds | None) -> tuple[dict, list[dict]]:
    """Metrics and predictions of a trained model (with its run's readout, TrainResult.readout) on a split under its
    thresholds (refit's single test evaluation).
    Without fitted thresholds (a run trained without validation) it refuses: no threshold is ever fitted on the
    split being scored."""
    if thresholds is None:
        raise InputError("the model has no fitted thresholds: train it with a validation split, or set them from "
                         "held-out predictions (stage C's out-of-fold thresholds), or fix train.threshold")
    device = next(model.parameters()).device
    tokenizer = load_tokenizer(run.model.backbone)
    task = make_task(run, tokenizer)
    records = task.records(model, task.features(examples), examples, _predictor(run, tokenizer, device), readout)
    return score(run.agent, records, thresholds)
