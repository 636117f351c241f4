"""Breast segmentation: overlap with the true breast despite film labels and scanner borders."""

from __future__ import annotations

import numpy as np
import pytest

from custom.mammography.data.segmentation import block_mean, border_depths, breast_mask, chest_wall_side
from tests.dicom_factory import add_border, add_film_label, border_free, label_box, synthetic_breast


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def unit_range(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, [0.5, 99.5])
    return np.clip((image - low) / (high - low), 0.0, 1.0)


def nipple_corner(chest_wall: str, vertical: str = "bottom") -> str:
    return f"{vertical}-{'right' if chest_wall == 'left' else 'left'}"


CASES = ["plain", "label", "label_top", "bright_border", "dark_border", "side_borders", "label_and_border"]


def make_case(case: str, chest_wall: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    image, truth = synthetic_breast((256, 200), chest_wall=chest_wall, seed=seed)
    if case.startswith("label"):
        vertical = "top" if case == "label_top" else "bottom"
        image = add_film_label(image, corner=nipple_corner(chest_wall, vertical))
    if case == "bright_border":
        image, truth = add_border(image, width=8), border_free(truth, width=8)
    if case == "dark_border":
        image, truth = add_border(image, width=8, value=0.0), border_free(truth, width=8)
    if case == "side_borders":
        image, truth = add_border(image, width=12, edges="lr"), border_free(truth, width=12, edges="lr")
    if case == "label_and_border":
        image, truth = add_border(image, width=6, edges="tr"), border_free(truth, width=6, edges="tr")
    return unit_range(image), truth


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("chest_wall", ["left", "right"])
@pytest.mark.parametrize("case", CASES)
def test_mask_matches_true_breast(case: str, chest_wall: str, seed: int) -> None:
    image, truth = make_case(case, chest_wall, seed)
    mask = breast_mask(image)
    assert mask.shape == image.shape and mask.dtype == bool
    assert iou(mask, truth) >= 0.9
    assert chest_wall_side(mask) == chest_wall


@pytest.mark.parametrize("chest_wall", ["left", "right"])
def test_film_label_is_excluded(chest_wall: str) -> None:
    image, _ = synthetic_breast((256, 200), chest_wall=chest_wall)
    corner = nipple_corner(chest_wall)
    mask = breast_mask(unit_range(add_film_label(image, corner=corner)))
    y0, x0, y1, x1 = label_box(image.shape, corner)
    assert not mask[y0:y1, x0:x1].any()


def test_bright_border_is_excluded_and_measured() -> None:
    image, _ = synthetic_breast((256, 200))
    framed = unit_range(add_border(image, width=8))
    depths = border_depths(framed)
    assert depths["left"] == 8  # chest-wall side: the breast right behind the border stops the search
    assert min(depths.values()) >= 8
    mask = breast_mask(framed)
    assert not mask[:8].any() and not mask[-8:].any() and not mask[:, :8].any() and not mask[:, -8:].any()


def test_no_border_on_breast_edge() -> None:
    image, _ = synthetic_breast((256, 200))
    assert border_depths(unit_range(image))["left"] == 0


def test_large_image_is_segmented_on_a_reduced_copy() -> None:
    image, truth = synthetic_breast((256, 200), seed=3)
    big_image, big_truth = np.kron(image, np.ones((5, 5))), np.kron(truth, np.ones((5, 5), dtype=bool))
    mask = breast_mask(unit_range(big_image), work_size=256)
    assert mask.shape == big_image.shape
    assert iou(mask, big_truth) >= 0.9


def test_blank_image_gives_empty_mask() -> None:
    assert not breast_mask(np.zeros((64, 48), dtype=np.float32)).any()


def test_chest_wall_side_from_mask() -> None:
    mask = np.zeros((50, 40), dtype=bool)
    mask[5:45, :20] = True
    assert chest_wall_side(mask) == "left"
    assert chest_wall_side(mask[:, ::-1]) == "right"
    mask[:, :3] = False  # a dark frame along the chest wall edge does not change the answer
    assert chest_wall_side(mask) == "left"


def test_block_mean_averages_blocks_and_pads_by_repetition() -> None:
    image = np.arange(20, dtype=np.float32).reshape(4, 5)
    reduced = block_mean(image, 2)
    assert reduced.shape == (2, 3)
    np.testing.assert_allclose(reduced[0, :2], [(0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4])
    np.testing.assert_allclose(reduced[:, 2], [(4 + 4 + 9 + 9) / 4, (14 + 14 + 19 + 19) / 4])
    assert np.array_equal(block_mean(image, 1), image)
