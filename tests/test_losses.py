import pytest
import torch
import torch.nn.functional as F

from conftest import defaults

from psy_agents.config import TrainConfig
from psy_agents.models.heads import SpanHead
from psy_agents.training.losses import ClassificationLoss, class_weights, span_loss

COUNTS = [90, 10]


@pytest.fixture
def data():
    torch.manual_seed(0)
    return torch.randn(16, 2) * 3, torch.randint(0, 2, (16,))


@pytest.mark.parametrize("weights", ["none", "balanced", "effective_num"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_focal_with_gamma_zero_equals_ce(data, weights, smoothing):
    logits, labels = data
    common = dict(class_weights=weights, label_smoothing=smoothing, effective_num_beta=0.99)
    ce = ClassificationLoss(defaults(TrainConfig, loss="ce", **common), COUNTS)(logits, labels)
    focal_cfg = defaults(TrainConfig, loss="focal", focal_gamma=0.0, **common)
    focal = ClassificationLoss(focal_cfg, COUNTS)(logits, labels)
    torch.testing.assert_close(focal, ce)


def test_focal_down_weights_easy_examples_and_alpha_weights_classes(data):
    logits, labels = data
    ce = ClassificationLoss(defaults(TrainConfig, loss="ce"), COUNTS)(logits, labels)
    focal = ClassificationLoss(defaults(TrainConfig, loss="focal", focal_gamma=2.0), COUNTS)(logits, labels)
    assert focal < ce
    alpha = ClassificationLoss(defaults(TrainConfig, loss="focal", focal_gamma=0.0, focal_alpha=0.75), COUNTS)
    per_example = F.cross_entropy(logits, labels, reduction="none")
    expected = (per_example * torch.where(labels == 1, 0.75, 0.25)).mean()
    torch.testing.assert_close(alpha(logits, labels), expected)


def test_label_smoothing_changes_loss(data):
    logits, labels = data
    plain = ClassificationLoss(defaults(TrainConfig), COUNTS)(logits, labels)
    smooth = ClassificationLoss(defaults(TrainConfig, label_smoothing=0.2), COUNTS)(logits, labels)
    assert not torch.isclose(plain, smooth)


def test_loss_is_float32_under_bf16(data):
    logits, labels = data
    for loss in ("ce", "focal"):
        loss_fn = ClassificationLoss(defaults(TrainConfig, loss=loss), COUNTS)
        assert loss_fn(logits.bfloat16(), labels).dtype == torch.float32


def test_class_weights_favour_the_rare_class():
    assert class_weights("none", COUNTS) is None
    torch.testing.assert_close(class_weights("balanced", COUNTS), torch.tensor([100 / 180, 100 / 20]))
    effective = class_weights("effective_num", COUNTS, beta=0.99)
    assert effective[1] > effective[0]
    torch.testing.assert_close(effective.sum(), torch.tensor(2.0))
    assert torch.isfinite(class_weights("balanced", [5, 0])).all()


def test_span_loss_matches_mean_of_start_end_ce():
    torch.manual_seed(0)
    start, end = torch.randn(3, 7), torch.randn(3, 7)
    s_pos, e_pos = torch.tensor([0, 2, 4]), torch.tensor([0, 3, 6])
    expected = (F.cross_entropy(start, s_pos) + F.cross_entropy(end, e_pos)) / 2
    torch.testing.assert_close(span_loss(start, end, s_pos, e_pos), expected)


def test_span_loss_smooths_over_real_tokens_only_even_in_bf16():
    torch.manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        start, end = SpanHead(8)(torch.randn(2, 6, 8), mask)
    positions = torch.tensor([0, 5])
    loss = span_loss(start, end, positions, positions, label_smoothing=0.1)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    # Example 0 smoothed over its 4 real tokens equals F.cross_entropy on those tokens alone.
    real = start[:1, :4].float()
    expected0 = F.cross_entropy(real, positions[:1], label_smoothing=0.1)
    only0 = span_loss(start[:1], start[:1], positions[:1], positions[:1], label_smoothing=0.1)
    torch.testing.assert_close(only0, expected0)
