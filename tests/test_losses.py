"""Soft contrastive losses: hand-checked values, gradients, reductions and input checks."""

import numpy as np
import pytest
import torch

from custom.losses import CrossSoftContrastiveLoss, SoftContrastiveLoss
from custom.networks import pair_distance

DISTANCE = torch.tensor([0.5, 0.5, 2.0, 0.2])
LABEL = torch.tensor([0.0, 1.0, 1.0, 0.5])
# margin 1, by hand: (1-y) d^2 + y max(0, 1-d)^2
#   d=0.5 y=0   -> 0.25
#   d=0.5 y=1   -> 0.5^2 = 0.25
#   d=2.0 y=1   -> max(0, -1)^2 = 0
#   d=0.2 y=0.5 -> 0.5 * 0.04 + 0.5 * 0.64 = 0.34
BY_HAND = torch.tensor([0.25, 0.25, 0.0, 0.34])


@pytest.mark.parametrize(
    "reduction, expected", [("none", BY_HAND), ("sum", torch.tensor(0.84)), ("mean", torch.tensor(0.21))]
)
def test_values_by_hand(reduction, expected):
    torch.testing.assert_close(SoftContrastiveLoss(margin=1.0, reduction=reduction)(DISTANCE, LABEL), expected)


def test_margin_and_numpy_labels():
    loss = SoftContrastiveLoss(margin=2.0, reduction="none")
    # d=1, y=1 -> (2-1)^2 = 1; d=3, y=0.25 -> 0.75 * 9 + 0.25 * 0 = 6.75
    torch.testing.assert_close(loss(torch.tensor([1.0, 3.0]), np.array([1.0, 0.25])), torch.tensor([1.0, 6.75]))


def test_gradcheck_double():
    torch.manual_seed(0)
    distance = (torch.rand(6, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()  # away from the margin kink
    label = torch.rand(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(SoftContrastiveLoss(margin=1.0, reduction="sum"), (distance, label))


def test_gradcheck_through_the_embedding_distance():
    torch.manual_seed(1)
    a = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    label = torch.tensor([0.0, 0.3, 0.7, 1.0], dtype=torch.float64)
    loss = SoftContrastiveLoss(margin=5.0)
    assert torch.autograd.gradcheck(lambda x, y: loss(pair_distance(x, y), label), (a, b))


def test_gradient_signs():
    distance = torch.tensor([0.5, 0.5, 1.5], requires_grad=True)
    SoftContrastiveLoss(margin=1.0, reduction="sum")(distance, torch.tensor([0.0, 1.0, 1.0])).backward()
    same, different_inside, different_beyond = distance.grad
    assert same > 0, "label 0: descent must pull the distance down"
    assert different_inside < 0, "label 1 below the margin: descent must push the distance up"
    assert different_beyond == 0, "label 1 beyond the margin: no gradient"


def test_cross_loss_swaps_the_labels():
    d_a, d_b = torch.tensor([0.2, 0.9]), torch.tensor([0.6, 0.1])
    y_a, y_b = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.2])
    single = SoftContrastiveLoss(margin=1.0, reduction="none")
    cross = CrossSoftContrastiveLoss(margin=1.0, reduction="none")(d_a, d_b, y_a, y_b)
    torch.testing.assert_close(cross, single(d_a, y_b) + single(d_b, y_a))
    assert not torch.allclose(cross, single(d_a, y_a) + single(d_b, y_b))
    # by hand, pair 0: L(0.2, y_b=1) + L(0.6, y_a=0) = 0.64 + 0.36
    torch.testing.assert_close(cross[0], torch.tensor(1.0))
    mean = CrossSoftContrastiveLoss(margin=1.0)(d_a, d_b, y_a, y_b)
    torch.testing.assert_close(mean, cross.sum() / 2)


@pytest.mark.parametrize(
    "distance, label, match",
    [
        (torch.ones(3, 1), torch.ones(3, 1), "shape"),
        (torch.ones(3), torch.ones(4), "shape"),
        (torch.ones(3), torch.tensor([0.0, 1.5, 0.5]), r"\[0, 1\]"),
        (torch.ones(3), torch.tensor([0.0, -0.1, 0.5]), r"\[0, 1\]"),
        (torch.ones(3), torch.tensor([0.0, float("nan"), 0.5]), r"\[0, 1\]"),
        (torch.tensor([1.0, -0.5, 1.0]), torch.zeros(3), "non-negative"),
        (torch.tensor([1.0, float("nan"), 1.0]), torch.zeros(3), "finite"),
    ],
)
def test_input_errors(distance, label, match):
    with pytest.raises(ValueError, match=match):
        SoftContrastiveLoss()(distance, label)


def test_argument_errors():
    with pytest.raises(ValueError, match="margin"):
        SoftContrastiveLoss(margin=0.0)
    with pytest.raises(ValueError):
        SoftContrastiveLoss(reduction="median")


def test_mismatched_pairs_are_pushed_apart_with_label_one():
    distance = torch.tensor([0.2, 0.4])
    labels = torch.tensor([0.0, 1.0])
    mismatch = torch.tensor([0.5, 1.5])
    plain = CrossSoftContrastiveLoss(margin=1.0)(distance, distance, labels, labels)
    loss = CrossSoftContrastiveLoss(margin=1.0, mismatch_weight=0.5)(distance, distance, labels, labels,
                                                                      mismatch, mismatch)
    # label 1: max(0, 1 - d)^2 -> (0.25 + 0) / 2 per network, two networks, weight 0.5
    assert loss.item() == pytest.approx(plain.item() + 0.5 * 2 * 0.125)
    assert CrossSoftContrastiveLoss(margin=1.0)(distance, distance, labels, labels, mismatch, mismatch) == plain
    with pytest.raises(ValueError, match="non-corresponding"):
        CrossSoftContrastiveLoss(mismatch_weight=1.0)(distance, distance, labels, labels)
    with pytest.raises(ValueError, match="mismatch_weight"):
        CrossSoftContrastiveLoss(mismatch_weight=-1.0)
