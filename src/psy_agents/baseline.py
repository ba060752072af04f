"""TF-IDF + logistic-regression reference for every agent, and the trivial floors, scored as the agents are.

Every predictor here produces the records the agents' tasks produce (training.tasks), so `fit_thresholds` and
`score` compute the same `primary` for the baseline, the floors and the neural agents:

- criteria: one sentence classifier per criterion (TF-IDF + logistic regression);
- evidence, share, joint: a post classifier (TF-IDF + one-vs-rest logistic regression over the nine symptoms) for
  the symptom decisions, and as the evidence of (post, criterion) the sentences of the post (split by pysbd) that
  the criterion's sentence classifier answers under the null and further thresholds, as the sentence span unit
  answers.

As for the models, thresholds are fitted on predictions of data the classifiers did not train on: the val column
trains on train and is scored on val cross-fitted (thresholds fitted on one half of its posts decide the other, as a
trial's val figures are); the test column trains on train+val (as refit does) and takes its thresholds from
out-of-fold predictions over the K folds of train+val (as refit takes stage C's).
Logistic regression gives log-odds directly; class_weight="balanced" multiplies the odds by n0/n1, which is undone
exactly (as the agents' prior shift is). The floors predict the train majority class (0: no symptom; for the
span agents also "no answer" everywhere, which is the same records), nothing at all, every criterion everywhere
(`always_positive`), or every sentence of the post as the evidence of every criterion (`every_sentence`), with no
threshold to fit: the first things a user would try.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline, make_pipeline

from psy_agents.config import BaselineConfig
from psy_agents.data.criteria_text import SYMPTOMS
from psy_agents.data.examples import select
from psy_agents.data.sentences import sentence_spans
from psy_agents.errors import InputError
from psy_agents.evaluation.records import criteria_record, span_record
from psy_agents.evaluation.scoring import SCALAR_METRICS, calibrates, cross_fitted, fit_thresholds, score
from psy_agents.evaluation.spans import rank_sentences
from psy_agents.evaluation.thresholds import Thresholds

Row = dict[str, Any]
FLOOR_THRESHOLDS = Thresholds(decision=0.5)
_LOGIT_CAP = 50.0


def split_rows(rows: Sequence[Row], post_ids: list[Any], name: str) -> list[Row]:
    selected = select(rows, post_ids)
    if not selected:
        raise InputError(f"split {name!r} has no examples; check split.* ratios in params.yaml")
    return selected


def _vectorizer(cfg: BaselineConfig) -> TfidfVectorizer:
    return TfidfVectorizer(
        max_features=cfg.max_features, ngram_range=(1, cfg.ngram_max), min_df=cfg.min_df, sublinear_tf=True
    )


def _logreg(cfg: BaselineConfig) -> LogisticRegression:
    return LogisticRegression(C=cfg.C, class_weight="balanced", max_iter=1000)


class TextClassifier:
    """TF-IDF + balanced logistic regression; `log_odds` refers to the training class balance."""

    def __init__(self, texts: Sequence[str], labels: Sequence[int], cfg: BaselineConfig) -> None:
        labels = list(labels)
        positives = sum(labels)
        # A class absent from train (tiny corpora) cannot fit a regression: its train prior is the honest answer.
        self.model: Pipeline | None = None
        self.prior = _logit(positives / len(labels))
        if positives not in (0, len(labels)):
            self.model = make_pipeline(_vectorizer(cfg), _logreg(cfg)).fit(list(texts), labels)
            self.shift = float(np.log(positives / (len(labels) - positives)))  # balanced weights: odds x n0/n1

    def log_odds(self, texts: Sequence[str]) -> np.ndarray:
        if self.model is None:
            return np.full(len(texts), self.prior)
        return self.model.decision_function(list(texts)) + self.shift


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return float(np.clip(np.log(p / (1 - p)), -_LOGIT_CAP, _LOGIT_CAP))


def fit_sentence_models(criteria_rows: Sequence[Row], cfg: BaselineConfig) -> dict[str, TextClassifier]:
    """One sentence classifier per criterion, from that criterion's (sentence, criterion) examples."""
    models = {}
    for symptom in SYMPTOMS:
        rows = [row for row in criteria_rows if row["symptom"] == symptom]
        if not rows:
            raise InputError(f"no train examples for {symptom}; rerun `dvc repro groundtruth`")
        models[symptom] = TextClassifier([r["sentence"] for r in rows], [r["label"] for r in rows], cfg)
    return models


def criteria_records(models: dict[str, TextClassifier], rows: Sequence[Row]) -> list[Row]:
    logit = np.zeros(len(rows))
    for symptom, model in models.items():
        idx = [i for i, row in enumerate(rows) if row["symptom"] == symptom]
        if idx:
            logit[idx] = model.log_odds([rows[i]["sentence"] for i in idx])
    return [criteria_record(r, float(z)).to_dict() for r, z in zip(rows, logit, strict=True)]


def _posts(rows: Sequence[Row]) -> tuple[dict[Any, int], list[str], np.ndarray]:
    """Post index, post texts and the post x SYMPTOMS label matrix of per (post, criterion) rows."""
    index: dict[Any, int] = {}
    texts: list[str] = []
    for row in rows:
        if row["post_id"] not in index:
            index[row["post_id"]] = len(texts)
            texts.append(row["post"])
    labels = np.zeros((len(texts), len(SYMPTOMS)), dtype=int)
    for row in rows:
        labels[index[row["post_id"]], SYMPTOMS.index(row["symptom"])] |= int(row["label"])
    return index, texts, labels


class PostBaseline:
    """Symptom decisions from the post classifier, evidence from the sentences of the post its criterion scores."""

    def __init__(self, evidence_rows: Sequence[Row], criteria_rows: Sequence[Row], cfg: BaselineConfig) -> None:
        _, texts, labels = _posts(evidence_rows)
        self.posts = make_pipeline(_vectorizer(cfg), OneVsRestClassifier(_logreg(cfg))).fit(texts, labels)
        positives = labels.sum(axis=0).clip(1, len(texts) - 1)
        self.shift = np.log(positives / (len(texts) - positives))  # balanced weights, per symptom
        self.sentences = fit_sentence_models(criteria_rows, cfg)

    def records(self, rows: Sequence[Row]) -> list[Row]:
        index, texts, _ = _posts(rows)
        post_logit = self.posts.decision_function(texts).reshape(len(texts), -1) + self.shift
        # every sentence of every post, scored once per criterion in one call
        sentences = [(post_id, s, e) for post_id, i in index.items() for s, e in sentence_spans(texts[i])]
        scored_sentences: dict[tuple[Any, str], list[tuple[float, int, int]]] = defaultdict(list)
        for symptom, model in self.sentences.items():
            scores = model.log_odds([texts[index[post_id]][s:e] for post_id, s, e in sentences])
            for (post_id, s, e), z in zip(sentences, scores, strict=True):
                scored_sentences[post_id, symptom].append((float(z), s, e))
        records = []
        for row in rows:
            found = rank_sentences(scored_sentences.get((row["post_id"], row["symptom"]), ()))
            logit = float(post_logit[index[row["post_id"]], SYMPTOMS.index(row["symptom"])])
            records.append(span_record(row, found[0] if found else None, 0.0, found, logit).to_dict())
        return records


def floor_records(agent: str, rows: Sequence[Row], train_rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Records of the trivial predictors: the train majority class (for the span agents it answers nothing, so it
    is also "always no answer"), predict nothing, always positive (every (text, criterion) decided 1), and for the
    span agents every sentence (every sentence of the post answered for every criterion, decided 1)."""
    majority = _LOGIT_CAP if np.mean([r["label"] for r in train_rows]) > 0.5 else -_LOGIT_CAP

    def constant(logit: float) -> list[Row]:
        make = (lambda row: criteria_record(row, logit)) if agent == "criteria" else (
            lambda row: span_record(row, None, logit=logit))
        return [make(row).to_dict() for row in rows]

    floors = {"majority": constant(majority), "predict_nothing": constant(-_LOGIT_CAP),
              "always_positive": constant(_LOGIT_CAP)}
    if agent != "criteria":
        floors["every_sentence"] = [_every_sentence(row) for row in rows]
        if agent == "evidence":  # its P(symptom) is its answer's margin: deciding a pair 1 is answering it
            floors["always_positive"] = floors["every_sentence"]
    return floors


def _every_sentence(row: Row) -> Row:
    """A span record answering every sentence of the post, decided 1: all tied at margin 0, which the floor's
    thresholds answer, in the TF-IDF records' shape (best sentence, then `more`)."""
    found = rank_sentences((0.0, start, end) for start, end in sentence_spans(row["post"]))
    return span_record(row, found[0] if found else None, 0.0, found or None, _LOGIT_CAP).to_dict()


def headline(metrics: dict, agent: str) -> dict[str, Any]:
    """The scalar metrics an HPO objective may name, plus the post-level ReDSM5 protocol for the span agents."""
    out = {name: metrics[name] for name in SCALAR_METRICS[agent] if name in metrics}
    if "post" in metrics:
        out["post"] = {k: metrics["post"][k] for k in ("micro_f1", "macro_f1", "micro_f1_at_05", "macro_f1_at_05",
                                                        "floor_micro_f1", "floor_macro_f1")}
    return out


def baseline_report(
    agent: str, examples: Sequence[Row], criteria_examples: Sequence[Row], splits: dict[str, Any],
    cfg: BaselineConfig,
) -> tuple[dict[str, Any], list[Row]]:
    """{val, test} -> {tfidf, majority, predict_nothing, always_positive[, every_sentence]},
    each with its `primary`; and the TF-IDF test predictions (refit's reference on the same test posts)."""

    def fit(post_ids: list[Any]):
        train = split_rows(examples, post_ids, "train")
        if agent == "criteria":
            models = fit_sentence_models(train, cfg)
            return lambda rows: criteria_records(models, rows)
        model = PostBaseline(train, select(criteria_examples, post_ids), cfg)
        return model.records

    train_ids, val_ids, test_ids = splits["train"], splits["val"], splits["test"]
    val_records = fit(train_ids)(split_rows(examples, val_ids, "val"))
    oof = [r for fold in splits["folds"] for r in fit(fold["train"])(split_rows(examples, fold["val"], "fold val"))]
    test_records = fit(train_ids + val_ids)(split_rows(examples, test_ids, "test"))
    # val: cross-fitted on its own records, as a trial's val figures are; test: under the out-of-fold thresholds
    scored = {"val": cross_fitted(agent, val_records, calibrates(agent)),
              "test": score(agent, test_records, fit_thresholds(agent, oof, calibrates(agent)))}
    report, predictions = {}, {}
    for name, fitted_on in (("val", train_ids), ("test", train_ids + val_ids)):
        rows = split_rows(examples, splits[name], name)
        metrics, predictions[name] = scored[name]
        report[name] = {"tfidf": headline(metrics, agent)}
        for floor, floor_rows in floor_records(agent, rows, select(examples, fitted_on)).items():
            report[name][floor] = {"primary": score(agent, floor_rows, FLOOR_THRESHOLDS)[0]["primary"]}
    return report, predictions["test"]
