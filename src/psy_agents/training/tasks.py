"""What differs between agents, behind one small interface the training loop calls.

A task turns examples into features, picks the training features of an epoch (negatives subsampled), computes the
loss of a batch and evaluates a model on a split. `CriteriaTask` classifies (sentence, criterion) pairs;
`SpanTask` extracts evidence spans from windows of (criterion, post) and, for share/joint, also classifies each
window; an example's probability is the maximum over its windows.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from psy_agents.config import RunConfig
from psy_agents.data.tokenize import MODEL_INPUTS, Features, collate, encode_criteria, encode_spans, length_batches
from psy_agents.evaluation.metrics import best_threshold, classification_metrics, post_level_metrics
from psy_agents.evaluation.spans import best_answers, best_null_threshold, span_scored, squad_v2_scores, token_f1
from psy_agents.training.losses import ClassificationLoss, span_loss

# The validation metric each agent is selected on (HPO objective, early stopping, CV).
PRIMARY = {"criteria": "macro_f1", "evidence": "f1", "share": "primary", "joint": "primary"}
# The top-level scalar validation metrics of each agent: what an HPO objective may name besides `primary`.
_SPAN_METRICS = ("exact", "f1", "has_ans_exact", "has_ans_f1", "no_ans_exact", "no_ans_f1", "ece")
SCALAR_METRICS = {
    "criteria": ("macro_f1", "binary_f1", "accuracy", "auroc", "ece"),
    "evidence": _SPAN_METRICS,
    "share": (*_SPAN_METRICS, "primary"),
    "joint": (*_SPAN_METRICS, "primary"),
}


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


def calibration_sample(labels: list[int], size: int, seed: int) -> tuple[list[int], list[float]]:
    """Indices of up to `size` training examples, half positives and half negatives, and importance weights.

    A class-balanced sample gives the rare positives enough weight to place a threshold; weighting each class back
    to its share of the split makes the fitted threshold the one that is best at the real class balance.
    """
    rng = np.random.default_rng(seed)
    chosen, weights = [], []
    for cls in (0, 1):
        members = [i for i, y in enumerate(labels) if y == cls]
        take = min(len(members), size // 2)
        if take:
            chosen += sorted(rng.choice(members, size=take, replace=False).tolist())
            weights += [len(members) / take] * take
    return chosen, weights


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
            if name not in out:
                shape = (len(features), width) if value.ndim == 2 and name != "logits" else (len(features), 2)
                out[name] = np.full(shape, -1e4, dtype=np.float32)
            out[name][indices, : value.shape[1]] = value
    return out


def _sigmoid(margin: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(margin, -50, 50)))


def _prior_shift(model: nn.Module) -> float:
    return float(getattr(model, "prior_shift", 0.0))


def _buffer(model: nn.Module, name: str, default: float) -> float:
    return float(getattr(model, name, default))


def set_thresholds(model: nn.Module, decision: float, null: float | None = None) -> None:
    """Buffers, so the thresholds travel with the weights: the best epoch's state and refit's saved model."""
    for name, value in (("decision_threshold", decision), ("null_threshold", null)):
        if value is None:
            continue
        if hasattr(model, name):
            getattr(model, name).fill_(value)
        else:
            model.register_buffer(name, torch.tensor(float(value)))


def _positive_prob(logits: np.ndarray, model: nn.Module) -> np.ndarray:
    """P(label 1) from 2-class logits, with the model's prior-shift correction (see _epoch_class_counts)."""
    return _sigmoid(logits[:, 1] - logits[:, 0] + _prior_shift(model))


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
        self.primary = PRIMARY[run.agent]

    def epoch_indices(self, features: Features, rng: np.random.Generator) -> list[int]:
        return _subsample(features.columns["labels"], self.run.train.neg_ratio, rng)

    def _trainable_labels(self, features: Features) -> list[int]:
        return features.columns["labels"]

    def build_loss(self, features: Features) -> nn.Module | None:
        negatives, positives, self.prior_shift = _epoch_class_counts(
            self._trainable_labels(features), self.run.train.neg_ratio
        )
        if not self.with_cls:
            return None
        self.cls_loss = ClassificationLoss(self.run.train, [negatives, positives])
        return self.cls_loss


class CriteriaTask(_Task):
    def features(self, examples: list[dict], cache: bool = True) -> Features:
        return encode_criteria(examples, self.tokenizer, self.run.model.max_length, cache=cache)

    def loss(self, outputs: dict, batch: dict) -> torch.Tensor:
        return self.cls_loss(outputs["logits"], batch["labels"])

    def fit_thresholds(self, model, features: Features, examples: list[dict], weights, predict_fn) -> None:
        prob = _positive_prob(predict_fn(model, features)["logits"], model)
        set_thresholds(model, best_threshold([ex["label"] for ex in examples], prob, weights))

    def evaluate(self, model, features: Features, examples: list[dict], predict_fn) -> tuple[dict, list[dict]]:
        prob = _positive_prob(predict_fn(model, features)["logits"], model)
        labels = [ex["label"] for ex in examples]
        threshold = _buffer(model, "decision_threshold", 0.5)
        metrics = classification_metrics(labels, prob, threshold, groups=[ex["symptom"] for ex in examples])
        metrics["threshold"] = threshold
        predictions = [
            {"post_id": ex["post_id"], "sentence_id": ex["sentence_id"], "symptom": ex["symptom"],
             "label": ex["label"], "prob": round(float(p), 6)}
            for ex, p in zip(examples, prob, strict=True)
        ]
        return metrics, predictions


class SpanTask(_Task):
    """evidence (span head only), share and joint (span head + window classification head)."""

    def __init__(self, run: RunConfig, tokenizer) -> None:
        super().__init__(run, tokenizer)
        self.with_cls = run.agent in ("share", "joint")

    def features(self, examples: list[dict], cache: bool = True) -> Features:
        m = self.run.model
        return encode_spans(examples, self.tokenizer, m.max_length, m.doc_stride, cache=cache)

    def _trainable_labels(self, features: Features) -> list[int]:
        # Windows of a label-1 example without a located span have no trustworthy target of either kind.
        cols = features.columns
        return [y for y, spanless in zip(cols["labels"], cols["spanless"], strict=True) if not spanless]

    def loss(self, outputs: dict, batch: dict) -> torch.Tensor:
        has_target = batch["spanless"] == 0
        smoothing = self.run.train.label_smoothing
        span = _on_targets(
            lambda *t: span_loss(*t, label_smoothing=smoothing), has_target,
            outputs["start_logits"], outputs["end_logits"], batch["start_positions"], batch["end_positions"],
        )
        if not self.with_cls:
            return span
        w = self.run.train.span_loss_weight
        return w * span + (1.0 - w) * _on_targets(self.cls_loss, has_target, outputs["logits"], batch["labels"])

    def _decide(self, model, out: dict, features: Features, examples: list[dict], null_threshold: float):
        """Answers (null decided by null_threshold) and P(label 1) per example, from the model outputs `out`."""
        cols = features.columns
        answers = best_answers(
            len(examples), cols["example_index"], cols["offset_mapping"], out["start_logits"], out["end_logits"],
            [ex["post"] for ex in examples], n_best=self.run.train.n_best,
            max_answer_tokens=self.run.train.max_answer_tokens, null_threshold=null_threshold,
        )
        if self.with_cls:
            window_prob = _positive_prob(out["logits"], model)
            prob = np.zeros(len(examples))
            np.maximum.at(prob, np.asarray(cols["example_index"]), window_prob)
        else:  # the span head's own confidence that there is an answer: sigmoid(best span score - null score)
            margin = np.array([(a["score"] if a["score"] is not None else -1e4) - a["null_score"] + null_threshold
                               for a in answers])
            prob = _sigmoid(margin)
        return answers, prob

    def fit_thresholds(self, model, features: Features, examples: list[dict], weights, predict_fn) -> None:
        out = predict_fn(model, features)
        # A huge null threshold answers every example with its best span, so each cut can be scored.
        answers, _ = self._decide(model, out, features, examples, null_threshold=1e9)
        scored = span_scored(examples)
        golds = [[a["text"] for a in examples[i]["answers"]] or [""] for i in scored]
        null = best_null_threshold(
            [-np.inf if answers[i]["score"] is None else answers[i]["score"] - answers[i]["null_score"] for i in scored],
            [max(token_f1(answers[i]["text"], g) for g in gold) for i, gold in zip(scored, golds, strict=True)],
            [max(token_f1("", g) for g in gold) for gold in golds],
            [weights[i] for i in scored],
        )
        # The decision threshold is fitted on P(label 1) as evaluate computes it, i.e. with this null threshold.
        _, prob = self._decide(model, out, features, examples, null_threshold=null)
        set_thresholds(model, best_threshold([ex["label"] for ex in examples], prob, weights), null)

    def evaluate(self, model, features: Features, examples: list[dict], predict_fn) -> tuple[dict, list[dict]]:
        # Without fitted thresholds, the null-vs-span decision gets the prior-shift correction of the subsampled
        # no-answer windows (answer iff best - null + log(kept) > 0).
        null_threshold = _buffer(model, "null_threshold", _prior_shift(model))
        threshold = _buffer(model, "decision_threshold", 0.5)
        answers, prob = self._decide(model, predict_fn(model, features), features, examples, null_threshold)
        scored = span_scored(examples)
        span = squad_v2_scores(
            [answers[i]["text"] for i in scored], [[a["text"] for a in examples[i]["answers"]] for i in scored]
        )
        labels = [ex["label"] for ex in examples]
        cls = classification_metrics(labels, prob, threshold, groups=[ex["symptom"] for ex in examples])
        post = post_level_metrics(
            [ex["post_id"] for ex in examples], [ex["symptom"] for ex in examples], labels, prob, threshold
        )
        metrics = {**span, "ece": cls["ece"], "cls": cls, "post": post, "threshold": threshold,
                   "null_threshold": null_threshold}
        if self.with_cls:
            metrics["primary"] = (cls["macro_f1"] + span["f1"]) / 2
        predictions = [
            {"post_id": ex["post_id"], "symptom": ex["symptom"], "label": ex["label"], "prob": round(float(p), 6),
             "answer": a["text"], "start": a["start"], "end": a["end"], "gold": [g["text"] for g in ex["answers"]]}
            for ex, a, p in zip(examples, answers, prob, strict=True)
        ]
        return metrics, predictions


def make_task(run: RunConfig, tokenizer) -> CriteriaTask | SpanTask:
    return CriteriaTask(run, tokenizer) if run.agent == "criteria" else SpanTask(run, tokenizer)
