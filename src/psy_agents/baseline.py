"""TF-IDF + logistic-regression reference for every agent, fitted on the TRAIN posts only.

Logistic regression rather than the reference notebooks' LinearSVC: it gives probabilities directly, so AUROC, ECE and
the 0.5 threshold mean the same as for the neural agents, without CalibratedClassifierCV's inner folds (which fail
when a criterion has fewer positives than folds, as rare criteria do in small train splits). class_weight="balanced"
because every criterion is a small minority class; it trades calibration (ECE) for recall, as the reference did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline, make_pipeline

from psy_agents.config import BaselineConfig
from psy_agents.data.criteria_text import SYMPTOMS
from psy_agents.data.examples import select
from psy_agents.errors import InputError
from psy_agents.evaluation.metrics import classification_metrics, post_level_metrics
from psy_agents.evaluation.spans import span_scored, squad_v2_scores

Row = dict[str, Any]
EVAL_SPLITS = ("val", "test")


def split_rows(rows: Sequence[Row], splits: dict[str, list[Any]], name: str) -> list[Row]:
    selected = select(rows, splits[name])
    if not selected:
        raise InputError(f"split {name!r} has no examples; check split.* ratios in params.yaml")
    return selected


def _vectorizer(cfg: BaselineConfig) -> TfidfVectorizer:
    return TfidfVectorizer(
        max_features=cfg.max_features, ngram_range=(1, cfg.ngram_max), min_df=cfg.min_df, sublinear_tf=True
    )


def _logreg(cfg: BaselineConfig) -> LogisticRegression:
    return LogisticRegression(C=cfg.C, class_weight="balanced", max_iter=1000)


def fit_text_classifier(texts: Sequence[str], labels: Sequence[int], cfg: BaselineConfig) -> Pipeline | DummyClassifier:
    # A criterion with one class in train (possible on tiny corpora) cannot fit a logistic regression;
    # predicting its train prior is the honest baseline there.
    if len(set(labels)) < 2:
        return DummyClassifier(strategy="prior").fit(list(texts), list(labels))
    return make_pipeline(_vectorizer(cfg), _logreg(cfg)).fit(list(texts), list(labels))


def positive_proba(model: Pipeline | DummyClassifier, texts: Sequence[str]) -> np.ndarray:
    classes = list(model.classes_)
    if 1 not in classes:
        return np.zeros(len(texts))
    return model.predict_proba(list(texts))[:, classes.index(1)]


def majority_metrics(train_labels: Sequence[int], y_true: Sequence[int]) -> dict[str, Any]:
    """Macro F1 of always predicting the majority class of train: the floor a real model must beat."""
    label = int(np.mean(train_labels) > 0.5)
    return {"label": label, "macro_f1": classification_metrics(y_true, np.full(len(y_true), float(label)))["macro_f1"]}


def fit_criteria_models(train: Sequence[Row], cfg: BaselineConfig) -> dict[str, Pipeline | DummyClassifier]:
    """One sentence classifier per criterion, from that criterion's train examples."""
    models = {}
    for symptom in SYMPTOMS:
        rows = [row for row in train if row["symptom"] == symptom]
        if not rows:
            raise InputError(f"no train examples for {symptom}; rerun `dvc repro groundtruth`")
        models[symptom] = fit_text_classifier([r["sentence"] for r in rows], [r["label"] for r in rows], cfg)
    return models


def _criteria_proba(models: dict[str, Pipeline | DummyClassifier], rows: Sequence[Row]) -> np.ndarray:
    prob = np.zeros(len(rows))
    for symptom, model in models.items():
        idx = [i for i, row in enumerate(rows) if row["symptom"] == symptom]
        if idx:
            prob[idx] = positive_proba(model, [rows[i]["sentence"] for i in idx])
    return prob


def criteria_baseline(examples: Sequence[Row], splits: dict[str, list[Any]], cfg: BaselineConfig) -> dict[str, Any]:
    """Per split: `cls` (classification_metrics, per-symptom F1) and `majority` for the criteria agent."""
    train = split_rows(examples, splits, "train")
    models = fit_criteria_models(train, cfg)
    report = {}
    for name in EVAL_SPLITS:
        rows = split_rows(examples, splits, name)
        y = [row["label"] for row in rows]
        report[name] = {
            "cls": classification_metrics(y, _criteria_proba(models, rows), groups=[r["symptom"] for r in rows]),
            "majority": majority_metrics([r["label"] for r in train], y),
        }
    return report


def _posts(rows: Sequence[Row]) -> tuple[list[Any], list[str], np.ndarray]:
    """Post ids, post texts and the post x SYMPTOMS label matrix of per (post, criterion) rows."""
    index: dict[Any, int] = {}
    texts: list[str] = []
    for row in rows:
        if row["post_id"] not in index:
            index[row["post_id"]] = len(texts)
            texts.append(row["post"])
    labels = np.zeros((len(texts), len(SYMPTOMS)), dtype=int)
    for row in rows:
        labels[index[row["post_id"]], SYMPTOMS.index(row["symptom"])] |= int(row["label"])
    return list(index), texts, labels


def fit_post_model(train: Sequence[Row], cfg: BaselineConfig) -> Pipeline:
    """TF-IDF on post text + one-vs-rest logistic regression over the nine symptoms."""
    _, texts, labels = _posts(train)
    return make_pipeline(_vectorizer(cfg), OneVsRestClassifier(_logreg(cfg))).fit(texts, labels)


def _post_split_report(model: Pipeline, rows: Sequence[Row], train_labels: Sequence[int]) -> dict[str, Any]:
    ids, texts, _ = _posts(rows)
    post_prob = model.predict_proba(texts)
    position = {post_id: i for i, post_id in enumerate(ids)}
    prob = np.array([post_prob[position[r["post_id"]], SYMPTOMS.index(r["symptom"])] for r in rows])
    y = [row["label"] for row in rows]
    symptoms = [row["symptom"] for row in rows]
    scored = [rows[i] for i in span_scored(rows)]
    return {
        "post": post_level_metrics([r["post_id"] for r in rows], symptoms, y, prob),
        "cls": classification_metrics(y, prob, groups=symptoms),
        # Always answering "no answer": the span score any evidence model must beat.
        # Scored on the rows the agents' span scores use: label-1 rows without a located span are left out.
        "span_no_answer": squad_v2_scores(
            [""] * len(scored), [[a["text"] for a in r["answers"]] for r in scored]
        ),
        "majority": majority_metrics(train_labels, y),
    }


def post_baseline(
    evidence_examples: Sequence[Row], splits: dict[str, list[Any]], cfg: BaselineConfig
) -> dict[str, Any]:
    """Per split: `post` (ReDSM5 post-level micro/macro F1), `cls` over (post, criterion) rows, `span_no_answer`,
    `majority`: the reference for the evidence, share and joint agents."""
    train = split_rows(evidence_examples, splits, "train")
    model = fit_post_model(train, cfg)
    train_labels = [row["label"] for row in train]
    return {
        name: _post_split_report(model, split_rows(evidence_examples, splits, name), train_labels)
        for name in EVAL_SPLITS
    }
