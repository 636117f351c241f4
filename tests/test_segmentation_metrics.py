"""Dice, IoU and HD95 on hand-made masks with known answers, the empty-mask conventions, and the patient-level
summaries and paired differences built on them (custom.evaluation.segmentation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from custom.evaluation.segmentation import (
    SegmentationScores, SegmentationTable, paired_segmentation_difference, segmentation_scores,
    summarise_segmentation,
)

FLOAT32 = 1e-6  # MONAI's Dice and IoU come back in float32


def box(rows: tuple[int, int], cols: tuple[int, int], shape=(40, 40)) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[rows[0]:rows[1], cols[0]:cols[1]] = 1
    return mask


def scores_of(dice, hd95=None, unit="px") -> list[SegmentationScores]:
    """Per-image scores of images whose masks are both non-empty (IoU set to Dice / (2 - Dice))."""
    hd95 = np.zeros(len(dice)) if hd95 is None else hd95
    return [SegmentationScores(float(d), float(d / (2 - d)), float(h), 100, 100, unit)
            for d, h in zip(dice, hd95, strict=True)]


# ---- per image ----


def test_dice_and_iou_of_two_overlapping_squares():
    a = box((4, 14), (4, 14))  # 100 pixels
    b = box((8, 16), (10, 20))  # 80 pixels, 6 x 4 = 24 of them inside a
    result = segmentation_scores(a, b)
    assert result.dice == pytest.approx(2 * 24 / (100 + 80), abs=FLOAT32)
    assert result.iou == pytest.approx(24 / (100 + 80 - 24), abs=FLOAT32)
    assert (result.truth_pixels, result.prediction_pixels, result.unit) == (80, 100, "px")


def test_identical_masks_score_perfectly():
    a = box((5, 25), (10, 20))
    result = segmentation_scores(a, a.copy())
    assert (result.dice, result.iou, result.hd95) == (pytest.approx(1.0), pytest.approx(1.0), 0.0)


@pytest.mark.parametrize("shift", [1, 3, 5])
def test_hd95_of_a_shifted_square_is_the_shift(shift):
    a = box((10, 20), (10, 20))
    along_columns = box((10, 20), (10 + shift, 20 + shift))
    along_rows = box((10 + shift, 20 + shift), (10, 20))
    assert segmentation_scores(along_columns, a).hd95 == pytest.approx(shift)
    assert segmentation_scores(a, along_rows).hd95 == pytest.approx(shift)


def test_hd95_ignores_a_stray_pixel_that_the_maximum_would_not():
    """One stray pixel among 37 boundary pixels lies above the 95th percentile: HD95 0, Hausdorff about 30."""
    truth = box((5, 15), (5, 15))
    prediction = truth.copy()
    prediction[35, 35] = 1
    assert segmentation_scores(prediction, truth).hd95 == 0.0


def test_spacing_scales_hd95_per_axis():
    a = box((10, 20), (10, 20))
    along_columns, along_rows = box((10, 20), (13, 23)), box((13, 23), (10, 20))
    assert segmentation_scores(along_columns, a, spacing=0.5).hd95 == pytest.approx(1.5)
    assert segmentation_scores(along_columns, a, spacing=0.5).unit == "mm"
    # spacing in the array's axis order: 0.5 mm between rows, 2 mm between columns
    assert segmentation_scores(along_columns, a, spacing=(0.5, 2.0)).hd95 == pytest.approx(6.0)
    assert segmentation_scores(along_rows, a, spacing=(0.5, 2.0)).hd95 == pytest.approx(1.5)
    # Dice does not depend on spacing
    assert segmentation_scores(along_columns, a, spacing=(0.5, 2.0)).dice == pytest.approx(0.7, abs=FLOAT32)


def test_empty_mask_conventions():
    empty, lesion = np.zeros((30, 30)), box((5, 15), (5, 15), shape=(30, 30))
    true_negative = segmentation_scores(empty, empty)
    assert (true_negative.dice, true_negative.iou, true_negative.hd95) == (1.0, 1.0, 0.0)
    assert not true_negative.one_empty and not true_negative.both_nonempty
    for prediction, truth in ((empty, lesion), (lesion, empty)):  # a missed lesion, a mask on a normal image
        result = segmentation_scores(prediction, truth)
        assert (result.dice, result.iou) == (0.0, 0.0) and math.isnan(result.hd95)
        assert result.one_empty and not result.both_nonempty


def test_torch_bool_and_3d_masks_are_accepted():
    a, b = box((4, 14), (4, 14)), box((8, 16), (10, 20))
    expected = segmentation_scores(a, b)
    assert segmentation_scores(torch.from_numpy(a).bool(), torch.from_numpy(b).float()) == expected
    volume_a, volume_b = np.stack([a, a, a]), np.stack([b, b, b])
    assert segmentation_scores(volume_a, volume_b).dice == pytest.approx(expected.dice, abs=FLOAT32)


@pytest.mark.parametrize("prediction, truth, spacing, message", [
    (np.zeros((20, 20)), np.zeros((20, 21)), None, r"differ in shape: \(20, 20\) vs \(20, 21\)"),
    (np.zeros(20), np.zeros(20), None, "2-D .* or 3-D"),
    (np.zeros((1, 20, 20)), np.zeros((1, 20, 20)), None, "channel axis"),
    (np.full((20, 20), 255), np.zeros((20, 20)), None, r"binary mask of 0 and 1.*\[255\]"),
    (np.zeros((20, 20)), np.full((20, 20), 0.5), None, r"truth must be a binary mask"),
    (np.zeros((20, 20)), np.zeros((20, 20)), (1.0, 1.0, 1.0), "spacing must be one positive number or 2"),
    (np.zeros((20, 20)), np.zeros((20, 20)), -0.5, "spacing must be one positive"),
])
def test_bad_masks_are_refused_clearly(prediction, truth, spacing, message):
    with pytest.raises(ValueError, match=message):
        segmentation_scores(prediction, truth, spacing=spacing)


# ---- summaries ----


def test_summary_means_and_what_hd95_averages_over():
    lesion, empty = box((5, 15), (5, 15)), np.zeros((40, 40))
    shifted = box((5, 15), (7, 17))
    scores = [segmentation_scores(shifted, lesion),  # Dice 0.8, HD95 2
              segmentation_scores(lesion, lesion),  # Dice 1, HD95 0
              segmentation_scores(empty, empty),  # normal image, predicted normal: Dice 1, HD95 0 (not averaged)
              segmentation_scores(empty, lesion)]  # missed lesion: Dice 0, HD95 undefined
    summary = summarise_segmentation(scores, ["p1", "p1", "p2", "p3"], method="random", label_fraction=0.5)
    assert summary.dice.value == pytest.approx((0.8 + 1 + 1 + 0) / 4, abs=FLOAT32)
    assert summary.iou.value == pytest.approx((80 / 120 + 1 + 1 + 0) / 4, abs=FLOAT32)
    assert summary.hd95.value == pytest.approx(1.0) and summary.hd95.n == 2
    assert (summary.n_images, summary.n_patients, summary.n_one_empty) == (4, 3, 1)
    for result in (summary.dice, summary.iou, summary.hd95):
        assert result.ci_low <= result.value <= result.ci_high


def test_summary_without_any_measurable_hd95():
    empty, lesion = np.zeros((30, 30)), box((5, 15), (5, 15), shape=(30, 30))
    summary = summarise_segmentation([segmentation_scores(empty, lesion), segmentation_scores(empty, empty)],
                                     ["a", "b"])
    assert summary.hd95 is None and summary.n_one_empty == 1
    assert math.isnan(summary.to_row()["hd95"]) and summary.to_row()["hd95_images"] == 0


def test_interval_contains_the_mean_and_widens_when_fewer_patients_hold_the_images():
    """The same 100 Dice values, alike within a patient: as 10 patients' images they carry less information
    than as 100 patients' single images, and the patient bootstrap says so."""
    rng = np.random.default_rng(0)
    dice = np.clip(np.repeat(rng.uniform(0.5, 0.9, 10), 10) + 0.02 * rng.standard_normal(100), 0, 1)
    scores = scores_of(dice)
    many = summarise_segmentation(scores, np.arange(100))
    few = summarise_segmentation(scores, np.repeat(np.arange(10), 10))
    for summary in (many, few):
        assert summary.dice.value == pytest.approx(dice.mean())
        assert summary.dice.ci_low < summary.dice.value < summary.dice.ci_high
    assert (few.dice.ci_high - few.dice.ci_low) > 2 * (many.dice.ci_high - many.dice.ci_low)
    assert (few.n_patients, many.n_patients) == (10, 100)


def test_summary_refuses_mismatched_input():
    with pytest.raises(ValueError, match="one patient per image: 2 for 3 images"):
        summarise_segmentation(scores_of([0.5, 0.6, 0.7]), ["a", "b"])
    with pytest.raises(ValueError, match="mix HD95 units"):
        summarise_segmentation(scores_of([0.5]) + scores_of([0.6], unit="mm"), ["a", "b"])
    with pytest.raises(ValueError, match="no segmentation scores"):
        summarise_segmentation([], [])
    with pytest.raises(ValueError, match=r"label_fraction .* \(50% is 0.5\)"):
        summarise_segmentation(scores_of([0.5]), ["a"], label_fraction=50)


# ---- paired differences ----


def test_paired_difference_of_identical_predictions_is_exactly_zero():
    rng = np.random.default_rng(1)
    scores = scores_of(rng.uniform(0.3, 0.9, 30), hd95=rng.uniform(1, 20, 30))
    difference = paired_segmentation_difference(scores, list(scores), np.repeat(np.arange(10), 3))
    for name in ("dice", "iou", "hd95"):
        assert (difference[name].value, difference[name].ci_low, difference[name].ci_high) == (0.0, 0.0, 0.0)


def test_paired_difference_is_per_image_and_hd95_only_where_both_methods_measure_it():
    lesion, empty = box((5, 15), (5, 15)), np.zeros((40, 40))
    shifted = box((5, 15), (7, 17))
    a = [segmentation_scores(lesion, lesion), segmentation_scores(lesion, lesion), segmentation_scores(empty, empty)]
    b = [segmentation_scores(shifted, lesion), segmentation_scores(empty, lesion), segmentation_scores(empty, empty)]
    difference = paired_segmentation_difference(a, b, ["p1", "p2", "p3"])
    assert difference["dice"].value == pytest.approx(((1 - 0.8) + (1 - 0) + 0) / 3, abs=FLOAT32)
    assert difference["hd95"].value == pytest.approx(0 - 2) and difference["hd95"].n == 1
    assert difference["dice"].ci_low <= difference["dice"].value <= difference["dice"].ci_high


def test_paired_difference_refuses_scores_of_other_images():
    lesion, other = box((5, 15), (5, 15)), box((5, 10), (5, 10))
    a = [segmentation_scores(lesion, lesion)]
    with pytest.raises(ValueError, match="image 0 has a truth mask of 100 pixels for method A and 25"):
        paired_segmentation_difference(a, [segmentation_scores(other, other)], ["p"])
    with pytest.raises(ValueError, match="same images: 1 vs 2 images"):
        paired_segmentation_difference(a, a + a, ["p"])


# ---- results table ----


def test_table_rows_and_markdown():
    rng = np.random.default_rng(2)
    patients = np.repeat(np.arange(5), 2)
    summaries = (summarise_segmentation(scores_of(rng.uniform(0.6, 0.8, 10), hd95=np.full(10, 4.0)), patients,
                                        method="multi-organ SimCLR", label_fraction=0.5),
                 summarise_segmentation(scores_of(rng.uniform(0.5, 0.7, 10), hd95=np.full(10, 6.0)), patients,
                                        method="random", label_fraction=1.0))
    table = SegmentationTable(summaries)
    rows = table.to_rows()
    assert rows[0]["method"] == "multi-organ SimCLR" and rows[0]["label_fraction"] == 0.5
    assert rows[0]["dice"] == summaries[0].dice.value and rows[0]["dice_low"] == summaries[0].dice.ci_low
    assert (rows[1]["hd95"], rows[1]["hd95_low"], rows[1]["hd95_high"]) == (6.0, 6.0, 6.0)
    assert (rows[1]["n_images"], rows[1]["n_patients"], rows[1]["n_one_empty"]) == (10, 5, 0)
    lines = table.to_markdown().splitlines()
    assert lines[0] == ("| Method | Labels | Dice [95% CI] | IoU [95% CI] | HD95 (px) [95% CI] | Images | Patients "
                        "| One mask empty |")
    d = summaries[0].dice
    assert lines[2].startswith(f"| multi-organ SimCLR | 50% | {d.value:.3f} [{d.ci_low:.3f}, {d.ci_high:.3f}] |")
    assert lines[3].startswith("| random | 100% |") and lines[3].endswith("| 6.0 [6.0, 6.0] | 10 | 5 | 0 |")
    mixed = SegmentationTable(summaries + (summarise_segmentation(scores_of([0.5], unit="mm"), ["a"]),))
    with pytest.raises(ValueError, match="mix HD95 units"):
        mixed.to_markdown()
