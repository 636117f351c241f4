"""Identical random MONAI transforms on both sides of each contralateral pair (the bundle's own list)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser
from monai.transforms import RandGaussianNoised

from custom.mammography.engines import PairAugmentation

TRAIN_CONFIG = Path(__file__).resolve().parents[1] / "bundles" / "mammo_siamese_softlabel" / "configs" / "train.json"


def _bundle_augmentation(seed: int) -> PairAugmentation:
    parser = ConfigParser()
    parser.read_config(str(TRAIN_CONFIG))
    return PairAugmentation(parser.get_parsed_content("train#pair_transforms"), seed=seed)


def _pairs(n: int = 16, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(n, 1, size, size, generator=generator)
    return a, a.flip(-1).clone()  # side B: a different image of the same pair


def test_both_sides_get_the_same_geometric_transform_and_contrast_curve():
    a, b = _pairs()
    out_a, out_b = _bundle_augmentation(seed=1)(a, b, step=0)
    assert type(out_a) is torch.Tensor and out_a.dtype == a.dtype  # plain tensors, not MONAI MetaTensors
    # B is A mirrored: if both sides got the same transform and curve, each output pair still holds the
    # same values (a different curve per side would change them)
    for i in range(a.shape[0]):
        assert torch.allclose(torch.sort(out_a[i].flatten()).values, torch.sort(out_b[i].flatten()).values)
    assert not torch.allclose(torch.sort(out_a.flatten()).values, torch.sort(a.flatten()).values)  # contrast changed


def test_pixel_values_follow_a_dihedral_map_and_one_gamma_over_the_pair():
    a = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4) / 16 + 0.01
    b = 1.5 * a  # the pair's range is set by side B: side A must follow the pair's curve, not its own
    out_a, out_b = _bundle_augmentation(seed=3)(a, b, step=7)
    low, high = a.min(), b.max()
    unit_in = [(torch.rot90(x, k, dims=(-2, -1)) - low) / (high - low) for x in (a, a.flip(-1)) for k in range(4)]
    unit_out = (out_a - low) / (high - low)
    matches = []
    for candidate in unit_in:
        inside = (candidate > 0) & (unit_out > 0)  # log(0) at the pair's minimum
        ratio = torch.log(unit_out[inside]) / torch.log(candidate[inside])
        matches.append(bool(torch.allclose(ratio, ratio.mean(), atol=1e-4)) and inside.sum() == 15)
    assert sum(matches) == 1
    gamma = (torch.log(unit_out[unit_out > 0]) / torch.log(unit_in[matches.index(True)][unit_out > 0])).mean()
    assert 0.8 - 1e-4 <= gamma <= 1.25 + 1e-4


def test_same_step_same_transform_and_steps_differ():
    a, b = _pairs()
    first = _bundle_augmentation(seed=2)(a, b, step=5)
    again = _bundle_augmentation(seed=2)(a, b, step=5)  # a fresh object: what a resumed run builds
    other = _bundle_augmentation(seed=2)(a, b, step=6)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_every_dihedral_transform_is_drawn():
    a = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out_a, _ = _bundle_augmentation(seed=0)(a, a.clone(), step=0)
    # where the two smallest values land (a corner and its neighbour) tells the eight dihedral maps apart
    maps = {tuple(torch.argsort(out.flatten())[:2].tolist()) for out in out_a}
    assert len(maps) == 8


def test_any_monai_dictionary_transform_on_the_pair_key():
    a, b = _pairs(n=4)
    noise = RandGaussianNoised(keys="pair", prob=1.0, std=0.1)
    out_a, out_b = PairAugmentation(noise, seed=0)(a, b, step=0)
    assert not torch.equal(out_a, a) and not torch.equal(out_b, b)
    assert not torch.equal(out_a - a, (out_b - b).flip(-1))  # the noise is drawn per pixel, over both sides


def test_rejects_mismatched_or_non_square_batches_and_shape_changes():
    augment = _bundle_augmentation(seed=0)
    with pytest.raises(ValueError, match="square"):
        augment(torch.rand(2, 1, 4, 6), torch.rand(2, 1, 4, 6), step=0)
    with pytest.raises(ValueError, match="square"):
        augment(torch.rand(2, 1, 4, 4), torch.rand(3, 1, 4, 4), step=0)
    with pytest.raises(ValueError, match="keep the pair's shape"):
        PairAugmentation(lambda data: {"pair": data["pair"][:, :2]})(torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4), 0)
    with pytest.raises(TypeError, match="MONAI dictionary transform"):
        PairAugmentation("RandFlipd")
