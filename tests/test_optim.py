import typing

import pytest
import torch
from conftest import defaults
from tiny import tiny_bert_config

from psy_agents.config import ModelConfig, Scheduler, TrainConfig
from psy_agents.errors import InputError
from psy_agents.models.agents import build_model
from psy_agents.training.optim import OPTIMIZERS, build_optimizer, build_scheduler, parameter_depths

CONFIG = tiny_bert_config(vocab_size=50, num_hidden_layers=3)


def _model(agent="share"):
    torch.manual_seed(0)
    return build_model(agent, defaults(ModelConfig, num_layers=None, span_unit="token"), backbone=CONFIG)


def _loss(model):
    ids = torch.randint(5, 50, (2, 6))
    out = model(ids, torch.ones_like(ids))
    return sum(v.float().clamp(min=-1e4).sum() for v in out.values())


def _groups(optimizer):
    return {g["name"]: g for g in optimizer.param_groups}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_steps(name):
    model = _model()
    optimizer = build_optimizer(model, defaults(TrainConfig, optimizer=name, lr=1e-2))
    before = [p.detach().clone() for p in model.parameters()]
    _loss(model).backward()
    optimizer.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


@pytest.mark.parametrize("name", typing.get_args(Scheduler))
def test_each_scheduler_warms_up_then_runs(name):
    optimizer = build_optimizer(_model(), defaults(TrainConfig, lr=1e-3, head_lr_mult=10.0))
    cfg = defaults(TrainConfig, scheduler=name, warmup_ratio=0.2)
    scheduler = build_scheduler(optimizer, cfg, num_training_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(scheduler.get_last_lr())
        optimizer.step()
        scheduler.step()
    assert lrs[0][0] == 0.0  # round(0.2 * 10) = 2 warm-up steps start from zero
    assert max(lr[0] for lr in lrs) == pytest.approx(optimizer.param_groups[0]["initial_lr"])
    if name != "constant_with_warmup":
        assert lrs[-1][0] < lrs[2][0]


def test_layerwise_decay_and_head_multiplier():
    groups = _groups(build_optimizer(_model(), defaults(TrainConfig, lr=1e-3, layer_decay=0.5, head_lr_mult=10.0)))
    # 3 layers: embeddings depth 0 -> 0.5**4, layer i -> depth i+1 -> 0.5**(3-i), heads -> lr * 10.
    for depth in range(4):
        assert groups[f"encoder.depth{depth}.decay"]["lr"] == pytest.approx(1e-3 * 0.5 ** (4 - depth))
    assert groups["heads.decay"]["lr"] == pytest.approx(1e-2)
    assert groups["heads.no_decay"]["lr"] == pytest.approx(1e-2)


def test_no_weight_decay_on_biases_and_layernorm():
    model = _model()
    optimizer = build_optimizer(model, defaults(TrainConfig, weight_decay=0.1))
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    for name, param in model.named_parameters():
        expected = 0.0 if name.endswith("bias") or "LayerNorm" in name else 0.1
        assert decay_of[id(param)] == expected, name


@pytest.mark.parametrize("agent", ["criteria", "joint"])
def test_freeze_layers_freezes_bottom_of_every_encoder(agent):
    model = _model(agent)
    optimizer = build_optimizer(model, defaults(TrainConfig, freeze_layers=2))
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    for encoder in model.encoders:
        depths, _ = parameter_depths(encoder)
        for name, param in encoder.named_parameters():
            frozen = name.startswith("embeddings.") or name.startswith(("encoder.layer.0.", "encoder.layer.1."))
            assert depths[name] <= 2 if frozen else depths[name] == 3
            assert param.requires_grad is not frozen, name
            assert (id(param) in in_optimizer) is not frozen, name
    assert all(p.requires_grad for h in model.heads for p in h.parameters())


def test_freeze_more_layers_than_the_backbone_has():
    with pytest.raises(InputError, match="only 3 layers"):
        build_optimizer(_model(), defaults(TrainConfig, freeze_layers=4))


def test_freeze_layers_counts_the_layers_num_layers_kept():
    torch.manual_seed(0)
    model = build_model("criteria", defaults(ModelConfig, num_layers=2), backbone=CONFIG)  # 2 of CONFIG's 3 layers
    build_optimizer(model, defaults(TrainConfig, freeze_layers=2))
    assert not any(p.requires_grad for p in model.encoder.parameters())  # embeddings and both kept layers
    with pytest.raises(InputError, match=r"freeze_layers=3 but the encoder has only 2 layers \(model\.num_layers"):
        build_optimizer(build_model("criteria", defaults(ModelConfig, num_layers=2), backbone=CONFIG),
                        defaults(TrainConfig, freeze_layers=3))
