"""Dice, IoU and HD95 of binary segmentation masks, per image, summarised with patient-level bootstrap CIs.

Modality-free: the ultrasound bundle's fine-tuning evaluation uses it, but nothing here knows of ultrasound.
The per-image numbers come from MONAI's metric functions (``compute_dice``, ``compute_iou``,
``compute_hausdorff_distance(percentile=95)``); this module fixes what they leave open, the empty masks that
real data hold (BUSI's 'normal' images have no lesion):

================================  =====  =====  ======================================================
case                              Dice   IoU    HD95
================================  =====  =====  ======================================================
both masks non-empty              MONAI  MONAI  MONAI, in mm with ``spacing`` (pixels otherwise)
both empty (a true negative)      1      1      0
exactly one empty (a miss or a    0      0      NaN: undefined, counted apart
spurious mask)
================================  =====  =====  ======================================================

Why NaN and not the image diagonal for one empty mask: a distance between two boundaries does not exist when
one boundary is missing, and any stand-in (the diagonal, the largest distance seen) is an arbitrary number
that depends on the image size and resizing and would dominate the mean. The miss is not hidden: Dice and IoU
score it 0, and the summary reports how many images had exactly one empty mask.

Summaries (:func:`summarise_segmentation`) average Dice and IoU over all images, and HD95 over the images
where both masks are non-empty: there HD95 measures boundary error, and the zeros of true-negative images
would otherwise make it depend on the share of normal images. Every interval resamples whole patients
(:func:`~.metrics.mean_with_ci`), as images of one patient are correlated. Two methods on the same images
are compared per image, then the differences are averaged with the same patient bootstrap
(:func:`paired_segmentation_difference`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance, compute_iou

from .metrics import MetricResult, mean_with_ci

METRICS = ("dice", "iou", "hd95")


@dataclass(frozen=True)
class SegmentationScores:
    """One image's scores, and the mask sizes that say which empty-mask convention applied.

    ``hd95`` is NaN when exactly one mask is empty; ``unit`` is ``"mm"`` when a spacing was given, else
    ``"px"``.
    """

    dice: float
    iou: float
    hd95: float
    truth_pixels: int
    prediction_pixels: int
    unit: str

    @property
    def both_nonempty(self) -> bool:
        return self.truth_pixels > 0 and self.prediction_pixels > 0

    @property
    def one_empty(self) -> bool:
        return (self.truth_pixels > 0) != (self.prediction_pixels > 0)


def _as_binary(mask, name: str) -> np.ndarray:
    """``mask`` as a boolean array; refuses values other than 0 and 1 (probabilities, 0/255 PNG masks)."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.dtype != bool and not ((mask == 0) | (mask == 1)).all():
        found = np.unique(mask)[:5].tolist()
        raise ValueError(f"{name} must be a binary mask of 0 and 1; it holds other values, e.g. {found}")
    return mask.astype(bool)


def _check_shapes(prediction: np.ndarray, truth: np.ndarray) -> None:
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction and truth masks differ in shape: {prediction.shape} vs {truth.shape}")
    if prediction.ndim not in (2, 3):
        raise ValueError(f"masks must be 2-D (H, W) or 3-D (D, H, W) without batch or channel axes, "
                         f"got shape {prediction.shape}")
    if prediction.ndim == 3 and prediction.shape[0] == 1:
        raise ValueError(f"mask shape {prediction.shape} looks like a 2-D mask with a channel axis; "
                         "squeeze it (a 3-D volume one slice deep is not supported)")


def _spacing(spacing, ndim: int) -> tuple[float, ...] | None:
    """Per-axis spacing (in the order of the array's axes), or None for pixels."""
    if spacing is None:
        return None
    values = np.asarray(spacing, dtype=np.float64).ravel()
    if values.size == 1:
        values = np.repeat(values, ndim)
    if values.size != ndim or not (np.isfinite(values) & (values > 0)).all():
        raise ValueError(f"spacing must be one positive number or {ndim} (one per axis), got {spacing!r}")
    return tuple(float(v) for v in values)


def segmentation_scores(prediction, truth, spacing=None) -> SegmentationScores:
    """Dice, IoU and HD95 of one image's binary ``prediction`` and ``truth`` masks (numpy or torch, same
    spatial shape), with the empty-mask conventions of the module docstring.

    Args:
        spacing: pixel size, one number or one per axis in the array's axis order, in mm; HD95 is then in mm.
            None: HD95 in pixels.

    Raises:
        ValueError: masks of different shapes, not 2-D/3-D, not binary, or a bad spacing.
    """
    prediction, truth = _as_binary(prediction, "prediction"), _as_binary(truth, "truth")
    _check_shapes(prediction, truth)
    spacing = _spacing(spacing, truth.ndim)
    sizes = int(truth.sum()), int(prediction.sum())
    unit = "px" if spacing is None else "mm"
    if sizes[0] == 0 or sizes[1] == 0:
        both_empty = sizes == (0, 0)
        agreement = float(both_empty)
        return SegmentationScores(agreement, agreement, 0.0 if both_empty else float("nan"), *sizes, unit)
    y_pred = torch.from_numpy(prediction).float()[None, None]
    y = torch.from_numpy(truth).float()[None, None]
    dice = compute_dice(y_pred, y, include_background=True)
    iou = compute_iou(y_pred, y, include_background=True)
    hd95 = compute_hausdorff_distance(y_pred, y, include_background=True, percentile=95, spacing=spacing)
    return SegmentationScores(float(dice), float(iou), float(hd95), *sizes, unit)


def _unit(scores: Sequence[SegmentationScores]) -> str:
    units = {s.unit for s in scores}
    if len(units) != 1:
        raise ValueError(f"scores mix HD95 units {sorted(units)}: score every image with a spacing, or none")
    return units.pop()


def _check_patients(scores: Sequence, patients) -> np.ndarray:
    patients = np.asarray(patients).ravel()
    if len(scores) == 0:
        raise ValueError("no segmentation scores to summarise")
    if patients.size != len(scores):
        raise ValueError(f"patients must name one patient per image: {patients.size} for {len(scores)} images")
    return patients


def _mean_over(values: np.ndarray, patients: np.ndarray, keep: np.ndarray, **bootstrap) -> MetricResult | None:
    """Patient-bootstrap mean of ``values[keep]``; None when no image is kept."""
    return mean_with_ci(values[keep], patients[keep], **bootstrap) if keep.any() else None


@dataclass(frozen=True)
class SegmentationSummary:
    """One row of a results table: a method (initialisation) at a label fraction on one test set.

    ``hd95`` is None when no image has both masks non-empty; ``n_one_empty`` counts the images whose HD95 is
    undefined (a missed lesion or a mask on a normal image).
    """

    method: str
    label_fraction: float | None
    dice: MetricResult
    iou: MetricResult
    hd95: MetricResult | None
    n_images: int
    n_patients: int
    n_one_empty: int
    unit: str
    confidence: float

    def to_row(self) -> dict:
        """Flat numbers for a CSV or JSON file: each metric's value, ``_low`` and ``_high``."""
        row = {"method": self.method, "label_fraction": self.label_fraction}
        for name in METRICS:
            result = getattr(self, name)
            for suffix, field in (("", "value"), ("_low", "ci_low"), ("_high", "ci_high")):
                row[name + suffix] = getattr(result, field) if result is not None else float("nan")
        row.update(hd95_images=self.hd95.n if self.hd95 is not None else 0, hd95_unit=self.unit,
                   n_images=self.n_images, n_patients=self.n_patients, n_one_empty=self.n_one_empty)
        return row


def summarise_segmentation(scores: Sequence[SegmentationScores], patients, *, method: str = "",
                           label_fraction: float | None = None, n_bootstrap: int = 1000, confidence: float = 0.95,
                           seed: int = 0) -> SegmentationSummary:
    """Mean Dice, IoU (all images) and HD95 (images with both masks non-empty) with patient-bootstrap CIs.

    Args:
        scores: per-image scores from :func:`segmentation_scores`, all in one HD95 unit.
        patients: one patient id per image; the CIs resample whole patients.
    """
    patients = _check_patients(scores, patients)
    unit = _unit(scores)
    if label_fraction is not None and not 0 < label_fraction <= 1:
        raise ValueError(f"label_fraction is a fraction in (0, 1], got {label_fraction} (50% is 0.5)")
    bootstrap = {"n_bootstrap": n_bootstrap, "confidence": confidence, "seed": seed}
    every = np.ones(len(scores), dtype=bool)
    measured = np.array([s.both_nonempty for s in scores])
    results = {name: _mean_over(np.array([getattr(s, name) for s in scores]), patients,
                                measured if name == "hd95" else every, **bootstrap) for name in METRICS}
    return SegmentationSummary(method, label_fraction, **results, n_images=len(scores),
                               n_patients=int(np.unique(patients).size),
                               n_one_empty=sum(s.one_empty for s in scores), unit=unit, confidence=confidence)


def paired_segmentation_difference(scores_a: Sequence[SegmentationScores], scores_b: Sequence[SegmentationScores],
                                   patients, *, n_bootstrap: int = 1000, confidence: float = 0.95,
                                   seed: int = 0) -> dict[str, MetricResult | None]:
    """Mean per-image difference, method A minus method B, of Dice, IoU and HD95, with patient-bootstrap CIs.

    Pairing per image removes the spread between images that both methods share, so the interval is that of
    the difference, not of two separate means. HD95 differences use the images where both masks are
    non-empty for both methods (None if there are none). ``scores_a[i]`` and ``scores_b[i]`` must score the
    same image: lengths, units and the truth masks' sizes are checked.
    """
    patients = _check_patients(scores_a, patients)
    if len(scores_a) != len(scores_b):
        raise ValueError(f"paired scores must cover the same images: {len(scores_a)} vs {len(scores_b)} images")
    if _unit(scores_a) != _unit(scores_b):
        raise ValueError(f"HD95 units differ between the methods: {_unit(scores_a)} vs {_unit(scores_b)}")
    truth_a, truth_b = ([s.truth_pixels for s in scores] for scores in (scores_a, scores_b))
    if truth_a != truth_b:
        first = next(i for i, (a, b) in enumerate(zip(truth_a, truth_b, strict=True)) if a != b)
        raise ValueError(f"paired scores are not of the same images: image {first} has a truth mask of "
                         f"{truth_a[first]} pixels for method A and {truth_b[first]} for method B")
    bootstrap = {"n_bootstrap": n_bootstrap, "confidence": confidence, "seed": seed}
    every = np.ones(len(scores_a), dtype=bool)
    pairs = list(zip(scores_a, scores_b, strict=True))
    measured = np.array([a.both_nonempty and b.both_nonempty for a, b in pairs])
    return {name: _mean_over(np.array([getattr(a, name) - getattr(b, name) for a, b in pairs]),
                             patients, measured if name == "hd95" else every, **bootstrap) for name in METRICS}


def _cell(result: MetricResult | None, digits: int) -> str:
    if result is None:
        return "n/a"
    return f"{result.value:.{digits}f} [{result.ci_low:.{digits}f}, {result.ci_high:.{digits}f}]"


def _fraction(label_fraction: float | None) -> str:
    return "" if label_fraction is None else f"{100 * label_fraction:g}%"


@dataclass(frozen=True)
class SegmentationTable:
    """Summary rows (one per method and label fraction) as CSV-ready dicts or a Markdown results table."""

    rows: tuple[SegmentationSummary, ...]

    def to_rows(self) -> list[dict]:
        return [row.to_row() for row in self.rows]

    def to_markdown(self) -> str:
        """The table for the docs; all rows must share the HD95 unit and the confidence level named in the
        header."""
        if not self.rows:
            raise ValueError("a segmentation table needs at least one row")
        units, levels = {r.unit for r in self.rows}, {r.confidence for r in self.rows}
        if len(units) > 1 or len(levels) > 1:
            raise ValueError(f"rows mix HD95 units {sorted(units)} or confidence levels {sorted(levels)}")
        ci = f"[{100 * levels.pop():g}% CI]"
        header = ["Method", "Labels", f"Dice {ci}", f"IoU {ci}", f"HD95 ({units.pop()}) {ci}", "Images",
                  "Patients", "One mask empty"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in self.rows:
            cells = [r.method, _fraction(r.label_fraction), _cell(r.dice, 3), _cell(r.iou, 3), _cell(r.hd95, 1),
                     str(r.n_images), str(r.n_patients), str(r.n_one_empty)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"
