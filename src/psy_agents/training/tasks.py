"""What differs between agents, behind one small interface the training loop calls.

A task turns examples into features, picks the training features of an epoch (negatives subsampled), computes the
loss of a batch and turns a model's outputs into per-example records, read with the run's `Readout` (the prior shift
and the longest answer, fixed on the training split). Records hold nothing that depends on a threshold, so the same
pure functions serve every split: `fit_thresholds` fits the decision threshold, the span agents' answer-vs-null
thresholds and the calibration on records of held-out data (a trial's validation split,
stage C's out-of-fold predictions), and `score` computes the metrics. `CriteriaTask` classifies (sentence, criterion)
pairs; `SpanTask` extracts evidence spans from windows of (criterion, post) and, for share/joint, also classifies
each window; an example's classification logit is the log-mean-exp over its windows (`log_mean_exp`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from psy_agents.config import RunConfig
from psy_agents.data.tokenize import (
    MODEL_INPUTS,
    Features,
    collate,
    encode_criteria,
    encode_criteria_heads,
    encode_spans,
    encode_spans_heads,
    length_batches,
    longest_answer_tokens,
    window_examples,
)
from psy_agents.errors import InputError
from psy_agents.evaluation.records import criteria_record, span_record
from psy_agents.evaluation.scoring import calibrates
from psy_agents.evaluation.spans import best_answers, best_sentences
from psy_agents.evaluation.thresholds import Readout, Thresholds
from psy_agents.models.agents import criteria_axis
from psy_agents.training.losses import ClassificationLoss, sentence_loss, span_loss

def _epoch_class_counts(labels: list[int], ratio: float) -> tuple[int, int, float]:
    """(negatives, positives) an epoch trains on, and log of the fraction of negatives kept.

    Subsampling negatives inflates the odds the model learns by 1/kept; adding log(kept) to the positive logit at
    prediction undoes that prior shift (the classic case-control correction), so probabilities and the 0.5
    threshold refer to the real class balance. It is computed from the training split only.
    """
    positives = sum(labels)
    negatives = len(labels) - positives
    kept = negatives if ratio <= 0 else min(negatives, int(ratio * max(positives, 1)))
    return kept, positives, float(np.log(kept / negatives)) if negatives else 0.0


def _subsample(labels: list[int], ratio: float, rng: np.random.Generator) -> list[int]:
    """All positives plus at most ratio x as many negatives, drawn fresh each epoch; ratio <= 0 keeps everything."""
    positives = [i for i, y in enumerate(labels) if y]
    negatives = [i for i, y in enumerate(labels) if not y]
    if ratio <= 0 or len(negatives) <= ratio * max(len(positives), 1):
        return list(range(len(labels)))
    keep = rng.choice(len(negatives), size=int(ratio * max(len(positives), 1)), replace=False)
    return sorted(positives + [negatives[i] for i in keep])


@torch.no_grad()
def predict(model: nn.Module, features: Features, batch_size: int, pad_id: int, device, autocast) -> dict:
    """Run the model over all features (sorted by length) and return float32 numpy outputs in feature order."""
    model.eval()
    lengths = [len(ids) for ids in features.columns["input_ids"]]
    width = max(lengths)
    out: dict[str, np.ndarray] = {}
    for indices in length_batches(lengths, batch_size, rng=None):
        batch = collate(features, indices, pad_id)
        with autocast():
            outputs = model(**{k: batch[k].to(device) for k in MODEL_INPUTS if k in batch})
        for name, value in outputs.items():
            value = value.float().cpu().numpy()
            if name not in out:  # token-level outputs are padded to the widest feature: [N, (criteria,) width]
                shape = value.shape[1:] if name == "logits" else (*value.shape[1:-1], width)
                out[name] = np.full((len(features), *shape), -1e4, dtype=np.float32)
            out[name][indices, ..., : value.shape[-1]] = value
    return out


def _positive_logit(logits: np.ndarray, prior_shift: float) -> np.ndarray:
    """log-odds of label 1 from 2-class logits, with the run's prior-shift correction (see _Task.build_loss)."""
    return logits[:, 1] - logits[:, 0] + prior_shift


def log_mean_exp(values: np.ndarray, owners: np.ndarray, n: int) -> np.ndarray:
    """Per example i of n, the log-mean-exp of the values whose owner is i (logsumexp - log count; -inf for none):
    how a post's classification logit pools its windows' logits.

    Why not the maximum: the maximum of noisy window logits rises with the number of windows even where they add no
    evidence, so a long post would look likelier to show a symptom whatever it says (the real release's posts are
    2.5x longer than the demo's). The log-mean-exp equals the common logit when the windows agree, is at most
    log(count) below the maximum when one window holds the evidence, and drops when a window below it is added. For
    evidence-free windows it tends to the log of their mean odds instead of growing without bound. Calibration and
    the decision threshold are fitted on held-out records after it.
    """
    top = np.full(n, -np.inf)
    np.maximum.at(top, owners, values)
    count = np.bincount(owners, minlength=n)
    total = np.zeros(n)
    np.add.at(total, owners, np.exp(values - top[owners]))  # shifted by the maximum: no overflow
    out = np.full(n, -np.inf)
    has = count > 0
    out[has] = top[has] + np.log(total[has] / count[has])
    return out


def _on_targets(loss_fn, has_target: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:
    """loss_fn over the batch rows that have a target; a graph-connected zero when none has."""
    if has_target.all():
        return loss_fn(*tensors)
    if has_target.any():
        return loss_fn(*(t[has_target] for t in tensors))
    return tensors[0].sum() * 0.0


class _Task:
    """What both tasks share: negative subsampling per epoch and the classification loss with its prior shift."""

    with_cls = True

    def __init__(self, run: RunConfig, tokenizer) -> None:
        self.run = run
        self.tokenizer = tokenizer
        self.heads = criteria_axis(run.model) is not None

    def epoch(self, features: Features, rng: np.random.Generator) -> tuple[Features, list[int]]:
        """The epoch's training view and the features to train on. pair: every positive pair and a fresh draw of
        at most neg_ratio x as many negatives. heads: the same draw over the (text, criterion) pairs decides which
        ones enter the loss (`keep`), and the epoch encodes the texts that hold a kept pair (one pass answers all
        nine criteria); so both formulations train on one class balance and share one prior-shift correction, and
        the many all-negative sentences of a post cost an epoch only when drawn."""
        if not self.heads:
            return features, _subsample(features.columns["labels"], self.run.train.neg_ratio, rng)
        targets = self._targets(features)
        windows, slots = np.nonzero(targets)
        labels = np.asarray(features.columns["labels"])[windows, slots].tolist()
        kept = _subsample(labels, self.run.train.neg_ratio, rng)
        keep = np.zeros(targets.shape, dtype=int)
        keep[windows[kept], slots[kept]] = 1
        return Features({**features.columns, "keep": keep.tolist()}), np.flatnonzero(keep.any(axis=1)).tolist()

    def _targets(self, features: Features) -> np.ndarray:
        """heads: [texts, 9], which (text, criterion) pairs have a training target (an example here)."""
        return np.asarray(features.columns["example_indices"]) >= 0

    def _flat(self, tensor: torch.Tensor) -> torch.Tensor:
        """Batch rows in the pair formulation; (text, criterion) rows from [B, 9, ...] in the heads one."""
        return tensor.flatten(0, 1) if self.heads else tensor

    def _trainable_labels(self, features: Features) -> list[int]:
        if not self.heads:
            return features.columns["labels"]
        return np.asarray(features.columns["labels"])[self._targets(features)].tolist()

    def build_loss(self, features: Features) -> nn.Module | None:
        """The classification loss, and `prior_shift`: what to add to a trained log-odds so that it refers to the
        real class balance. Subsampling negatives multiplies the odds the model learns by 1/kept, and class weights
        (w0, w1) multiply the odds that minimise the weighted loss by w1/w0; both shifts are exact, so they are
        undone analytically. Focal loss and label smoothing distort probabilities in ways no shift undoes: those
        runs are calibrated on held-out records instead (see needs_calibration)."""
        negatives, positives, self.subsample_shift = _epoch_class_counts(
            self._trainable_labels(features), self.run.train.neg_ratio
        )
        self.prior_shift = self.subsample_shift
        if not self.with_cls:
            return None
        self.cls_loss = ClassificationLoss(self.run.train, [negatives, positives])
        if self.cls_loss.weight is not None:
            self.prior_shift += math.log(float(self.cls_loss.weight[0]) / float(self.cls_loss.weight[1]))
        return self.cls_loss

    def fixed_thresholds(self) -> Thresholds:
        """train.threshold set by hand: that decision threshold, no calibration, and for the span agents the
        answer-vs-null rule with the prior-shift correction of the subsampled no-answer windows."""
        return Thresholds(decision=self.run.train.threshold, null=self.subsample_shift, further=self.subsample_shift)

    def readout(self, features: Features, examples: list[dict]) -> Readout:
        """What `records` needs beside the model, fixed on the training features and examples (after build_loss):
        the prior shift, and for token spans the longest answer (SpanTask._max_answer_tokens)."""
        return Readout(self.prior_shift, self._max_answer_tokens(features, examples))

    def _max_answer_tokens(self, features: Features, examples: list[dict]) -> int | None:
        """Span agents size their answers on the training split (SpanTask); classification has none."""
        return None


class CriteriaTask(_Task):
    def features(self, examples: list[dict], cache: bool = True) -> Features:
        encode = encode_criteria_heads if self.heads else encode_criteria
        return encode(examples, self.tokenizer, self.run.model.max_length, cache=cache)

    def loss(self, outputs: dict, batch: dict) -> torch.Tensor:
        if not self.heads:
            return self.cls_loss(outputs["logits"], batch["labels"])
        # the epoch's `keep` (see epoch) where given, else every criterion the text has an example for
        targets = batch["keep"] == 1 if "keep" in batch else batch["example_indices"] >= 0
        flat = self._flat
        return _on_targets(self.cls_loss, flat(targets), flat(outputs["logits"]), flat(batch["labels"]))

    def records(self, model, features: Features, examples: list[dict], predict_fn, readout: Readout) -> list[dict]:
        out = predict_fn(model, features)["logits"]
        windows, slots, owners = window_examples(features)
        logit = np.empty(len(examples))
        logit[owners] = _positive_logit(out[windows] if slots is None else out[windows, slots], readout.prior_shift)
        return [criteria_record(ex, round(float(z), 6)).to_dict() for ex, z in zip(examples, logit, strict=True)]


class SpanTask(_Task):
    """evidence (span head only), share and joint (span head + window classification head)."""

    def __init__(self, run: RunConfig, tokenizer) -> None:
        super().__init__(run, tokenizer)
        self.with_cls = run.agent in ("share", "joint")
        self.sentences = run.model.span_unit == "sentence"

    def features(self, examples: list[dict], cache: bool = True) -> Features:
        m = self.run.model
        encode = encode_spans_heads if self.heads else encode_spans
        return encode(examples, self.tokenizer, m.max_length, m.doc_stride, cache=cache, sentences=self.sentences)

    def _trainable_labels(self, features: Features) -> list[int]:
        # Windows of a label-1 example without a located span have no trustworthy target of either kind; cut
        # windows are positives (see loss), so subsampling and the prior shift count them as loss sees them.
        cols = features.columns
        if not self.heads:
            return [y for y, spanless in zip(cols["labels"], cols["spanless"], strict=True) if not spanless]
        return super()._trainable_labels(features)

    def _targets(self, features: Features) -> np.ndarray:
        # absent criteria are spanless too (encode_spans_heads)
        return np.asarray(features.columns["spanless"]) == 0

    def _max_answer_tokens(self, features: Features, examples: list[dict]) -> int | None:
        """The longest span post-processing may answer: train.max_answer_tokens, or when null the longest gold
        answer of the training examples in tokens. A sentence answer is never cut short (None)."""
        if self.sentences:
            return None
        value = self.run.train.max_answer_tokens
        if value is None:
            value = longest_answer_tokens(features, examples)
            if value == 0:
                raise InputError("train.max_answer_tokens is null but no training example has a gold span to size "
                                 "it from; set a number")
        elif value < 1:
            raise InputError(f"train.max_answer_tokens={value}: use null (the longest training gold span) or >= 1")
        return value

    def loss(self, outputs: dict, batch: dict) -> torch.Tensor:
        has_target = batch["spanless"] == 0
        if "keep" in batch:  # heads: the epoch's subsampled negative (window, criterion) pairs stay out (see epoch)
            has_target = has_target & (batch["keep"] == 1)
        # A window whose boundary cuts the gold span (encode_spans' `cut`) shows evidence, so it keeps its
        # classification target (label 1), but no span target: CLS would teach "no answer".
        smoothing = self.run.train.label_smoothing
        flat = self._flat
        if self.sentences:  # a cut sentence is still a whole answer: every window with a target trains
            span = _on_targets(lambda *t: sentence_loss(*t, label_smoothing=smoothing), flat(has_target),
                               flat(outputs["sentence_logits"]), flat(batch["sentence_labels"]))
        else:
            span = _on_targets(
                lambda *t: span_loss(*t, label_smoothing=smoothing), flat(has_target & (batch["cut"] == 0)),
                flat(outputs["start_logits"]), flat(outputs["end_logits"]), flat(batch["start_positions"]),
                flat(batch["end_positions"]),
            )
        if not self.with_cls:
            return span
        w = self.run.train.span_loss_weight
        cls = _on_targets(self.cls_loss, flat(has_target), flat(outputs["logits"]), flat(batch["labels"]))
        return w * span + (1.0 - w) * cls

    def records(self, model, features: Features, examples: list[dict], predict_fn, readout: Readout) -> list[dict]:
        """Per (post, criterion): its best span over the windows whatever the null score, that span's margin over
        the null score, and the evidence word counts of answering with it; the same for each further sentence
        (sentence unit); plus the classification logit. `readout`: the run's prior shift and longest answer."""
        out = predict_fn(model, features)
        windows, slots, owners = window_examples(features)

        def rows(name: str) -> np.ndarray:  # one row per (window, example) pair, whatever the formulation
            return out[name][windows] if slots is None else out[name][windows, slots]

        posts = [ex["post"] for ex in examples]
        if self.sentences:
            answers = best_sentences(len(examples), owners, [features.columns["sentence_spans"][w] for w in windows],
                                     rows("sentence_logits"), posts)
        else:  # A huge null threshold answers every example with its best span; fit_thresholds/score decide on null.
            answers = best_answers(
                len(examples), owners, [features.columns["offset_mapping"][w] for w in windows],
                rows("start_logits"), rows("end_logits"), posts, n_best=self.run.train.n_best,
                max_answer_tokens=readout.max_answer_tokens, null_threshold=1e9,
            )
        if self.with_cls:
            logit = log_mean_exp(_positive_logit(rows("logits"), readout.prior_shift), owners, len(examples))
        return [
            span_record(ex, None if answer["score"] is None else (answer["score"], answer["start"], answer["end"]),
                        answer["null_score"], answer["sentences"] if self.sentences else None,
                        round(float(logit[i]), 6) if self.with_cls else None).to_dict()
            for i, (ex, answer) in enumerate(zip(examples, answers, strict=True))
        ]


def make_task(run: RunConfig, tokenizer) -> CriteriaTask | SpanTask:
    return CriteriaTask(run, tokenizer) if run.agent == "criteria" else SpanTask(run, tokenizer)


def needs_calibration(run: RunConfig) -> bool:
    """Whether the run's probabilities are Platt-calibrated on held-out records (evaluation.scoring.calibrates)."""
    return calibrates(run.agent, run.train.loss, run.train.label_smoothing)
