"""The training loop on tiny random models: every agent trains and evaluates, runs are reproducible."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import run_cfg, tiny_examples

from psy_agents.errors import InputError
from psy_agents.training.loop import DivergedError, train
from psy_agents.training import loop
from psy_agents.evaluation import scoring
from psy_agents.evaluation.scoring import fit_thresholds
from psy_agents.training.tasks import needs_calibration


def tiny_run(agent: str, backbone: str, **train_overrides):
    return run_cfg(
        agent,
        {
            "model": {"backbone": backbone, "max_length": 160, "doc_stride": 16, "head_hidden": 16},
            "train": {"epochs": 2, "batch_size": 8, "lr": 1e-3, "eval_batch_size": 32, "patience": 0,
                      "precision": "fp32", **train_overrides},
        },
    )


def split(examples):
    posts = sorted({e["post_id"] for e in examples})
    val = set(posts[::4])
    return [e for e in examples if e["post_id"] not in val], [e for e in examples if e["post_id"] in val]


@pytest.mark.parametrize("criterion_input", ["heads", "pair"])
@pytest.mark.parametrize("agent", ["criteria", "evidence", "share", "joint"])
def test_each_agent_trains_and_reports_its_primary_metric(agent, tiny_backbone, criterion_input):
    criteria, evidence = tiny_examples()
    train_ex, val_ex = split(criteria if agent == "criteria" else evidence)
    seen = []
    run = tiny_run(agent, tiny_backbone)
    run = replace(run, model=replace(run.model, criterion_input=criterion_input))
    result = train(run, train_ex, val_ex, callbacks=(lambda e, l, m: seen.append(e),))
    assert seen == [1, 2]
    assert result.epochs_run == 2 and result.best_epoch in (1, 2)
    assert 0.0 <= result.best_metrics["primary"] <= 1.0
    assert len(result.best_predictions) == len(val_ex)
    if agent != "criteria":
        # a window longer than max_length: the post was split into several windows
        assert "post" in result.best_metrics and result.best_metrics["post"]["n_posts"] == len(
            {e["post_id"] for e in val_ex})


def test_same_seed_gives_identical_metrics(tiny_backbone):
    _, evidence = tiny_examples()
    train_ex, val_ex = split(evidence)
    # seeds set here, not read from params.yaml: `dvc exp run -S train.seed=7` must not make the two runs alike
    first = train(tiny_run("share", tiny_backbone, seed=1), train_ex, val_ex)
    second = train(tiny_run("share", tiny_backbone, seed=1), train_ex, val_ex)
    assert first.history == second.history
    third = train(tiny_run("share", tiny_backbone, seed=2), train_ex, val_ex)
    assert third.history != first.history


def test_early_stopping_and_callback_can_stop_the_run(tiny_backbone):
    criteria, _ = tiny_examples()
    train_ex, val_ex = split(criteria)

    class Stop(Exception):
        pass

    def stop_after_first(epoch, loss, metrics):
        if epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        train(tiny_run("criteria", tiny_backbone, epochs=3), train_ex, val_ex, callbacks=(stop_after_first,))
    result = train(tiny_run("criteria", tiny_backbone, epochs=6, lr=0.0, patience=1), train_ex, val_ex)
    assert result.epochs_run == 2  # lr 0: no improvement after epoch 1, patience 1


@pytest.mark.parametrize("criterion_input,max_length", [("pair", 96), ("heads", 66)])
def test_impossible_window_is_a_clear_error(tiny_backbone, criterion_input, max_length):
    _, evidence = tiny_examples()
    model = {"backbone": tiny_backbone, "max_length": max_length, "doc_stride": 64, "criterion_input": criterion_input}
    with pytest.raises(InputError, match="doc_stride=64 must be below"):
        train(run_cfg("evidence", {"model": model}), evidence[:9], evidence[9:18])


def test_divergence_is_reported(tiny_backbone):
    criteria, _ = tiny_examples()
    train_ex, val_ex = split(criteria)
    with pytest.raises(DivergedError):
        train(tiny_run("criteria", tiny_backbone, lr=1e30, optimizer="sgd", max_grad_norm=0.0), train_ex, val_ex)


def test_only_training_examples_are_augmented_fresh_each_epoch(tiny_backbone):
    import copy

    criteria, _ = tiny_examples()
    train_ex, val_ex = split(criteria)
    val_before = copy.deepcopy(val_ex)

    class Recording:
        def __init__(self):
            self.calls = []

        def augment_examples(self, rows, epoch):
            self.calls.append((epoch, [r["sentence"] for r in rows]))
            return [{**r, "sentence": r["sentence"].upper()} for r in rows]

    augmenter = Recording()
    train(tiny_run("criteria", tiny_backbone, epochs=2), train_ex, val_ex, augmenter=augmenter)
    assert [epoch for epoch, _ in augmenter.calls] == [1, 2]
    for _, sentences in augmenter.calls:
        assert sentences == [r["sentence"] for r in train_ex]
    assert val_ex == val_before


@pytest.mark.parametrize("criterion_input", ["heads", "pair"])
def test_windows_of_a_positive_without_located_span_train_neither_head(tiny_backbone, criterion_input):
    from psy_agents.data.tokenize import MODEL_INPUTS, collate
    from psy_agents.models.agents import build_model
    from psy_agents.models.backbone import load_tokenizer
    from psy_agents.training.tasks import make_task

    _, evidence = tiny_examples()
    positive = next(e for e in evidence if e["label"])
    spanless = {**positive, "answers": []}  # groundtruth could not locate its sentence: label 1, no span
    others = [e for e in evidence if e["post_id"] != positive["post_id"]][:18]
    run = tiny_run("share", tiny_backbone)
    run = replace(run, model=replace(run.model, criterion_input=criterion_input))
    task = make_task(run, load_tokenizer(tiny_backbone))
    features = task.features([spanless, *others], cache=False)
    # heads: a window of the spanless post has no target for any criterion (the other eight have no example here)
    flags = [all(f) if isinstance(f, list) else f for f in features.columns["spanless"]]
    assert flags[0] == 1
    task.build_loss(features)
    model = build_model("share", run.model)
    windows = [i for i, s in enumerate(flags) if s]
    batch = collate(features, windows, 0)
    outputs = model(**{k: batch[k] for k in MODEL_INPUTS if k in batch})
    assert task.loss(outputs, batch).item() == 0.0
    rest = [i for i, s in enumerate(flags) if not s][:4]
    batch = collate(features, rest, 0)
    outputs = model(**{k: batch[k] for k in MODEL_INPUTS if k in batch})
    assert task.loss(outputs, batch).item() > 0.0


def test_thresholds_are_fitted_on_validation_records_never_on_training_rows(tiny_backbone, monkeypatch):
    _, evidence = tiny_examples()
    train_ex, val_ex = split(evidence)
    fitted_on = []
    monkeypatch.setattr(loop, "fit_thresholds",
                        lambda agent, records, calibrate: fitted_on.append(records) or fit_thresholds(
                            agent, records, calibrate))
    run = tiny_run("share", tiny_backbone, epochs=1)
    result = train(run, train_ex, val_ex)
    train_posts = {e["post_id"] for e in train_ex}
    assert fitted_on and all(r["post_id"] not in train_posts for records in fitted_on for r in records)
    # The saved thresholds are those of the validation predictions the reported scores come from.
    assert result.thresholds == fit_thresholds("share", result.best_predictions, needs_calibration(run))
    assert result.best_metrics["thresholds"] == result.thresholds.to_dict()
    assert not any("threshold" in name for name in result.model.state_dict())  # they travel beside the weights
    # A fixed threshold is used as given, and nothing is fitted.
    fitted_on.clear()
    fixed = train(tiny_run("share", tiny_backbone, epochs=1, threshold=0.3), train_ex, val_ex)
    assert fixed.best_metrics["thresholds"]["decision"] == pytest.approx(0.3) and not fitted_on
    assert fixed.thresholds.decision == pytest.approx(0.3)


def test_reported_val_metrics_never_count_a_prediction_decided_by_a_fit_on_its_own_post(tiny_backbone, monkeypatch):
    """Stage B's objectives (primary up, ECE down), early stopping, pruning and CV fold scores read the epoch's val
    metrics. Scored on the records its thresholds and Platt calibration were fitted on, a label-smoothed run would
    have an ECE near 0 by construction: every prediction they count is decided by a fit on other posts."""
    _, evidence = tiny_examples()
    train_ex, val_ex = split(evidence)
    real_fit, real_decide, real_metrics = scoring.fit_thresholds, scoring.decide, scoring.metrics_of
    counted = []  # (predictions, metrics) of every metrics computation
    monkeypatch.setattr(scoring, "fit_thresholds", lambda agent, records, calibrate: (
        real_fit(agent, records, calibrate), frozenset(r["post_id"] for r in records)))
    monkeypatch.setattr(scoring, "decide", lambda agent, records, fit: [
        {**p, "fitted_on": fit[1]} for p in real_decide(agent, records, fit[0])])

    def metrics_of(agent, predictions):
        counted.append((predictions, real_metrics(agent, predictions)))
        return counted[-1][1]

    monkeypatch.setattr(scoring, "metrics_of", metrics_of)
    run = tiny_run("share", tiny_backbone, label_smoothing=0.1)
    assert needs_calibration(run)
    result = train(run, train_ex, val_ex)
    assert len(counted) == len(result.history) == 2
    for (predictions, metrics), epoch in zip(counted, result.history, strict=True):
        assert epoch["val"]["ece"] == metrics["ece"] and epoch["val"]["primary"] == metrics["primary"]
        assert sorted(p["post_id"] for p in predictions) == sorted(e["post_id"] for e in val_ex)
        assert all(p["fitted_on"] is not None and p["post_id"] not in p["fitted_on"] for p in predictions)
    # what the model keeps and predicts with is still fitted on every validation record
    assert result.thresholds == fit_thresholds("share", result.best_predictions, needs_calibration(run))


def test_a_model_without_held_out_thresholds_is_never_scored(tiny_backbone):
    """Trained without validation, nothing fitted its thresholds: evaluating it would need fitting them on the
    split being scored, so evaluate refuses until refit sets stage C's out-of-fold thresholds."""
    criteria, _ = tiny_examples()
    train_ex, val_ex = split(criteria)
    result = train(tiny_run("criteria", tiny_backbone, epochs=1), train_ex, None)
    assert result.thresholds is None
    with pytest.raises(InputError, match="no fitted thresholds"):
        loop.evaluate(tiny_run("criteria", tiny_backbone), result.model, result.readout, val_ex, result.thresholds)


@pytest.mark.parametrize("criterion_input,neg_ratio,epochs", [("pair", 0.0, 3), ("pair", 1.0, 3), ("heads", 0.0, 8)])
def test_balanced_class_weights_keep_the_mean_probability_at_the_prevalence(tiny_backbone, criterion_input,
                                                                           neg_ratio, epochs):
    """Labels independent of the text at prevalence 0.2: the model can only learn the prior. Balanced weights
    (and subsampled negatives) shift the learned odds; the prior shift must undo that exactly."""
    import numpy as np

    from psy_agents.training.tasks import make_task
    from psy_agents.models.backbone import load_tokenizer

    criteria, _ = tiny_examples()
    rng = np.random.default_rng(0)
    labelled = [{**e, "label": int(rng.random() < 0.2)} for e in criteria]
    train_ex, val_ex = split(labelled)
    prevalence = np.mean([e["label"] for e in train_ex])
    run = tiny_run("criteria", tiny_backbone, epochs=epochs, class_weights="balanced", neg_ratio=neg_ratio,
                   threshold=0.5, lr=3e-3)
    run = replace(run, model=replace(run.model, criterion_input=criterion_input))
    result = train(run, train_ex, None)
    task = make_task(run, load_tokenizer(tiny_backbone))
    records = task.records(result.model, task.features(val_ex), val_ex, loop._predictor(
        run, load_tokenizer(tiny_backbone), next(result.model.parameters()).device), result.readout)
    mean_prob = float(np.mean(1 / (1 + np.exp(-np.array([r["logit"] for r in records])))))
    assert abs(mean_prob - prevalence) <= 0.02


@pytest.mark.parametrize("agent", ["criteria", "share"])
def test_heads_and_pair_give_predictions_in_the_same_format(tiny_backbone, agent):
    criteria, evidence = tiny_examples()
    train_ex, val_ex = split(criteria if agent == "criteria" else evidence)
    predictions = {}
    for criterion_input in ("heads", "pair"):
        run = tiny_run(agent, tiny_backbone, epochs=1)
        run = replace(run, model=replace(run.model, criterion_input=criterion_input))
        result = train(run, train_ex, val_ex)
        predictions[criterion_input] = result.best_predictions
        assert set(result.best_metrics) >= {"primary", "ece", "thresholds"}
    heads, pair = predictions["heads"], predictions["pair"]
    assert [set(p) for p in heads] == [set(p) for p in pair]
    assert [(p["post_id"], p["symptom"], p["label"]) for p in heads] == [
        (p["post_id"], p["symptom"], p["label"]) for p in pair]


@pytest.mark.parametrize("agent,span_unit", [("criteria", "sentence"), ("evidence", "sentence"), ("share", "sentence"),
                                             ("joint", "sentence"), ("evidence", "token"), ("joint", "token")])
def test_heads_model_overfits_one_batch(tiny_backbone, agent, span_unit):
    """Every head and target of the heads formulation is wired to the loss: it falls on a batch it overfits."""
    import torch

    from psy_agents.data.tokenize import MODEL_INPUTS, collate
    from psy_agents.models.agents import build_model
    from psy_agents.models.backbone import load_tokenizer
    from psy_agents.training.tasks import make_task

    criteria, evidence = tiny_examples()
    examples = (criteria if agent == "criteria" else evidence)[:36]  # four texts, all nine criteria each
    run = tiny_run(agent, tiny_backbone)
    run = replace(run, model=replace(run.model, criterion_input="heads", span_unit=span_unit))
    task = make_task(run, load_tokenizer(tiny_backbone))
    features = task.features(examples, cache=False)
    assert len(features.columns["example_indices"][0]) == 9
    task.build_loss(features)
    torch.manual_seed(0)
    model = build_model(agent, run.model)
    batch = collate(features, list(range(len(features))), 0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(40):
        outputs = model(**{k: batch[k] for k in MODEL_INPUTS if k in batch})
        loss = task.loss(outputs, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
