"""Per-epoch logging to dvclive: scalar metrics flattened to `val/<name>` plus the training loss."""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Number


def flatten(metrics: dict, prefix: str = "") -> Iterator[tuple[str, float]]:
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, f"{name}/")
        elif isinstance(value, Number) and not isinstance(value, bool):
            yield name, float(value)


def dvclive_callback(live, prefix: str = "val"):
    """An EpochCallback for training.loop.train that logs one dvclive step per epoch."""

    def log_epoch(epoch: int, train_loss: float, metrics: dict | None) -> None:
        live.log_metric("train/loss", train_loss)
        for name, value in flatten(metrics or {}, f"{prefix}/"):
            if "per_group_f1" in name or "per_label_f1" in name:
                continue  # per-symptom scores go to the final metrics file, not to curves
            live.log_metric(name, value)
        live.next_step()

    return log_epoch
