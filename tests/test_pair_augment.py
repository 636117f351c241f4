"""Identical random transforms on both sides of each contralateral pair."""

from __future__ import annotations

import pytest
import torch

from custom.mammography.engines import PairAugmentation


def _pairs(n: int = 16, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(n, 1, size, size, generator=generator)
    return a, a.flip(-1).clone()  # side B: a different image of the same pair


def test_both_sides_get_the_same_geometric_transform_and_gamma():
    a, b = _pairs()
    out_a, out_b = PairAugmentation(seed=1)(a, b, step=0)
    # B is A mirrored: if both sides got the same transform and gamma, each output pair still holds the
    # same values (a different gamma per side would change them)
    for i in range(a.shape[0]):
        assert torch.equal(torch.sort(out_a[i].flatten()).values, torch.sort(out_b[i].flatten()).values)
    gamma = torch.log(out_a.flatten(1).sum(1)) - torch.log(a.flatten(1).sum(1))
    assert gamma.abs().max() > 0  # intensities did change


def test_pixel_values_follow_a_dihedral_map_with_gamma():
    a = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4) / 16 + 0.01
    out_a, _ = PairAugmentation(seed=3)(a, a.clone(), step=7)
    candidates = [torch.rot90(x, k, dims=(-2, -1)) for x in (a, a.flip(-1)) for k in range(4)]
    # the gamma is one exponent for the whole patch: log(out) / log(in) is constant on a matching map
    ratios = [torch.log(out_a) / torch.log(c) for c in candidates]
    assert sum(torch.allclose(r, r.mean(), atol=1e-4) for r in ratios) == 1


def test_same_step_same_transform_and_steps_differ():
    a, b = _pairs()
    augment = PairAugmentation(seed=2)
    first = augment(a, b, step=5)
    again = augment(a, b, step=5)
    other = augment(a, b, step=6)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_rejects_mismatched_or_non_square_batches():
    augment = PairAugmentation()
    with pytest.raises(ValueError, match="square"):
        augment(torch.rand(2, 1, 4, 6), torch.rand(2, 1, 4, 6), step=0)
    with pytest.raises(ValueError, match="square"):
        augment(torch.rand(2, 1, 4, 4), torch.rand(3, 1, 4, 4), step=0)
    with pytest.raises(ValueError, match="gamma_range"):
        PairAugmentation(gamma_range=(0.0, 1.0))
