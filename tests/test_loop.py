"""The training loop on tiny random models: every agent trains and evaluates, runs are reproducible."""

from __future__ import annotations

import pytest
from conftest import tiny_examples

from psy_agents.config import run_config
from psy_agents.errors import InputError
from psy_agents.training.loop import DivergedError, train
from psy_agents.training.tasks import PRIMARY


def tiny_run(agent: str, backbone: str, **train_overrides):
    return run_config(
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


@pytest.mark.parametrize("agent", ["criteria", "evidence", "share", "joint"])
def test_each_agent_trains_and_reports_its_primary_metric(agent, tiny_backbone):
    criteria, evidence = tiny_examples()
    train_ex, val_ex = split(criteria if agent == "criteria" else evidence)
    seen = []
    result = train(tiny_run(agent, tiny_backbone), train_ex, val_ex, callbacks=(lambda e, l, m: seen.append(e),))
    assert seen == [1, 2]
    assert result.epochs_run == 2 and result.best_epoch in (1, 2)
    assert 0.0 <= result.best_metrics[PRIMARY[agent]] <= 1.0
    assert len(result.best_predictions) == len(val_ex)
    if agent != "criteria":
        # a window longer than max_length: the post was split into several windows
        assert "post" in result.best_metrics and result.best_metrics["post"]["n_posts"] == len(
            {e["post_id"] for e in val_ex})


def test_same_seed_gives_identical_metrics(tiny_backbone):
    _, evidence = tiny_examples()
    train_ex, val_ex = split(evidence)
    first = train(tiny_run("share", tiny_backbone), train_ex, val_ex)
    second = train(tiny_run("share", tiny_backbone), train_ex, val_ex)
    assert first.history == second.history
    third = train(tiny_run("share", tiny_backbone, seed=7), train_ex, val_ex)
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


def test_impossible_window_is_a_clear_error(tiny_backbone):
    _, evidence = tiny_examples()
    run = run_config("evidence", {"model": {"backbone": tiny_backbone, "max_length": 96, "doc_stride": 64}})
    with pytest.raises(InputError, match="doc_stride=64 must be below"):
        train(run, evidence[:9], evidence[9:18])


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


def test_windows_of_a_positive_without_located_span_train_neither_head(tiny_backbone):
    from psy_agents.data.tokenize import collate
    from psy_agents.models.agents import build_model
    from psy_agents.models.backbone import load_tokenizer
    from psy_agents.training.tasks import make_task

    _, evidence = tiny_examples()
    positive = next(e for e in evidence if e["label"])
    spanless = {**positive, "answers": []}  # groundtruth could not locate its sentence: label 1, no span
    run = tiny_run("share", tiny_backbone)
    task = make_task(run, load_tokenizer(tiny_backbone))
    features = task.features([spanless, *evidence[:20]], cache=False)
    assert features.columns["spanless"][0] == 1
    task.build_loss(features)
    model = build_model("share", run.model)
    windows = [i for i, s in enumerate(features.columns["spanless"]) if s]
    batch = collate(features, windows, 0)
    outputs = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
    assert task.loss(outputs, batch).item() == 0.0
    others = [i for i, s in enumerate(features.columns["spanless"]) if not s][:4]
    batch = collate(features, others, 0)
    outputs = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
    assert task.loss(outputs, batch).item() > 0.0


def test_thresholds_are_fitted_on_training_examples_only(tiny_backbone):
    from psy_agents.training.tasks import calibration_sample

    _, evidence = tiny_examples()
    train_ex, val_ex = split(evidence)
    # One epoch, so the validation labels cannot pick another epoch's weights either.
    result = train(tiny_run("share", tiny_backbone, epochs=1), train_ex, val_ex)
    fitted = float(result.model.decision_threshold), float(result.model.null_threshold)
    assert result.best_metrics["threshold"] == pytest.approx(fitted[0])
    # Flipping every validation label changes the scores but not the thresholds: val is never fitted on.
    flipped = [{**e, "label": 1 - e["label"], "answers": []} for e in val_ex]
    again = train(tiny_run("share", tiny_backbone, epochs=1), train_ex, flipped)
    assert again.best_metrics["f1"] != result.best_metrics["f1"]
    assert (float(again.model.decision_threshold), float(again.model.null_threshold)) == fitted
    # A fixed threshold is used as given.
    fixed = train(tiny_run("share", tiny_backbone, epochs=1, threshold=0.3), train_ex, val_ex)
    assert fixed.best_metrics["threshold"] == pytest.approx(0.3)
    with pytest.raises(InputError, match="train.calib_examples=0"):
        train(tiny_run("share", tiny_backbone, epochs=1, calib_examples=0), train_ex, val_ex)
    # The calibration sample is class-balanced and weighted back to the real balance.
    labels = [1] * 10 + [0] * 90
    chosen, weights = calibration_sample(labels, 20, seed=0)
    assert sum(labels[i] for i in chosen) == 10 and len(chosen) == 20
    assert sum(w for i, w in zip(chosen, weights) if labels[i] == 0) == pytest.approx(90)
