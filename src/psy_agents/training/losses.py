"""Losses: class-weighted / label-smoothed cross entropy, focal loss, and the extractive-QA span loss.

All of them compute in float32: under bf16 autocast the logits arrive in bf16, whose 8-bit mantissa makes
log-softmax and (1 - p)^gamma noticeably inexact.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from psy_agents.config import ClassWeights, TrainConfig


def class_weights(kind: ClassWeights, counts: Sequence[int], beta: float = 0.999) -> Tensor | None:
    """Per-class weights from training counts; None for "none".

    balanced:      n / (k * count)                           (sklearn's "balanced")
    effective_num: (1 - beta) / (1 - beta ** count), rescaled to sum to k (Cui et al., 2019)
    A class absent from training counts as 1 so its weight stays finite.
    """
    if kind == "none":
        return None
    c = torch.tensor(counts, dtype=torch.float64).clamp(min=1.0)
    k = len(c)
    if kind == "balanced":
        weights = c.sum() / (k * c)
    else:
        weights = (1.0 - beta) / (1.0 - beta**c)
        weights = weights * k / weights.sum()
    return weights.float()


class ClassificationLoss(nn.Module):
    """loss(logits [B, C], labels [B]) -> scalar, configured by cfg.loss / label_smoothing / focal_* / class_weights.

    Focal loss: each example's (weighted, label-smoothed) cross entropy times alpha_t * (1 - p_t) ** gamma,
    averaged with the same normaliser as weighted cross entropy (the sum of the targets' class weights), so with
    gamma = 0 and no alpha it equals "ce" exactly.
    """

    def __init__(self, cfg: TrainConfig, class_counts: Sequence[int]) -> None:
        super().__init__()
        self.focal = cfg.loss == "focal"
        self.gamma = cfg.focal_gamma
        self.label_smoothing = cfg.label_smoothing
        weight = class_weights(cfg.class_weights, class_counts, cfg.effective_num_beta)
        # Buffers follow the module across .to(device) and are not trained.
        self.register_buffer("weight", weight, persistent=False)
        alpha = None if cfg.focal_alpha is None else torch.tensor([1.0 - cfg.focal_alpha, cfg.focal_alpha])
        self.register_buffer("alpha", alpha, persistent=False)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        logits = logits.float()
        if not self.focal:
            return F.cross_entropy(logits, labels, weight=self.weight, label_smoothing=self.label_smoothing)
        per_example = F.cross_entropy(
            logits, labels, weight=self.weight, label_smoothing=self.label_smoothing, reduction="none"
        )
        p_true = logits.softmax(dim=-1).gather(1, labels.unsqueeze(1)).squeeze(1)
        per_example = per_example * (1.0 - p_true) ** self.gamma
        if self.alpha is not None:
            per_example = per_example * self.alpha[labels]
        if self.weight is None:
            return per_example.mean()
        return per_example.sum() / self.weight[labels].sum()


def _position_ce(logits: Tensor, positions: Tensor, label_smoothing: float) -> Tensor:
    # SpanHead fills padding with the dtype minimum; read the mask before the float32 cast changes that minimum.
    valid = logits > torch.finfo(logits.dtype).min / 2
    log_probs = logits.float().log_softmax(dim=-1)
    nll = -log_probs.gather(1, positions.unsqueeze(1)).squeeze(1)
    if label_smoothing == 0.0:
        return nll.mean()
    # Smooth over real tokens only: a share of the target on a padding position would cost ~1e38.
    uniform = -log_probs.masked_fill(~valid, 0.0).sum(dim=-1) / valid.sum(dim=-1)
    return ((1.0 - label_smoothing) * nll + label_smoothing * uniform).mean()


def span_loss(
    start_logits: Tensor,
    end_logits: Tensor,
    start_positions: Tensor,
    end_positions: Tensor,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Mean of the start and end cross entropies over token positions (as BertForQuestionAnswering), float32.

    No-answer windows point both positions at 0 (the CLS token), as in SQuAD v2.
    """
    start = _position_ce(start_logits, start_positions, label_smoothing)
    end = _position_ce(end_logits, end_positions, label_smoothing)
    return (start + end) / 2


def sentence_loss(sentence_logits: Tensor, sentence_labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy over a window's candidates (no answer at 0, then its sentences), float32, where the target is
    any of the evidence sentences (their summed probability; several sentences of a post can be evidence), or no
    answer when the window holds none. Label smoothing spreads over the real candidates, as span_loss does."""
    valid = sentence_logits > torch.finfo(sentence_logits.dtype).min / 2
    log_probs = sentence_logits.float().masked_fill(~valid, float("-inf")).log_softmax(dim=-1)
    no_answer = (sentence_labels.sum(dim=-1, keepdim=True) == 0).long()
    target = torch.cat([no_answer, sentence_labels], dim=-1).bool()
    nll = -log_probs.masked_fill(~target, float("-inf")).logsumexp(dim=-1)
    if label_smoothing == 0.0:
        return nll.mean()
    uniform = -log_probs.masked_fill(~valid, 0.0).sum(dim=-1) / valid.sum(dim=-1)
    return ((1.0 - label_smoothing) * nll + label_smoothing * uniform).mean()
