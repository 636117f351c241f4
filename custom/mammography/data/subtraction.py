"""Bilateral subtraction maps of an aligned exam: where one breast is denser than the other at the same place.

Masses and calcifications are denser than the tissue they replace, so the smoothed difference of two aligned
breasts peaks at lesions, and at normal asymmetries too. Used as a reference detector
(``custom.mammography.detection.subtraction``) and to draw training pairs where the breasts differ, without any label.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def bilateral_difference(stack: np.ndarray, spacing_mm: float, smoothing_mm: float = 2.0,
                         border_mm: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """``(left - right, right - left)``, each clipped to ``[0, 1]``, of an exam stack ``(4, H, W)`` (images and
    masks of both breasts): each breast smoothed with a Gaussian of ``smoothing_mm`` inside its mask, and a
    band of ``border_mm`` along the outline left out, where alignment leaves the skin lines apart."""
    sigma = smoothing_mm / spacing_mm
    masks = np.asarray(stack[2:4]) > 0.5
    both = ndimage.binary_erosion(masks[0] & masks[1], iterations=max(1, round(border_mm / spacing_mm)))
    smooth = []
    for image, mask in zip(np.asarray(stack[:2], dtype=np.float32), masks, strict=True):
        weight = ndimage.gaussian_filter(mask.astype(np.float32), sigma)
        smooth.append(ndimage.gaussian_filter(np.where(mask, image, 0).astype(np.float32), sigma)
                      / np.maximum(weight, 1e-3))
    difference = (smooth[0] - smooth[1]) * both
    return np.clip(difference, 0.0, 1.0), np.clip(-difference, 0.0, 1.0)


def subtraction_peaks(stack: np.ndarray, spacing_mm: float, count: int, min_distance_px: float) -> list[tuple[int, int]]:
    """The ``count`` highest peaks ``(row, col)`` of either breast's difference map, ``min_distance_px`` apart."""
    # imported here: the detection package imports the training engines, which import the pair dataset
    from custom.mammography.detection.candidates import extract_candidates

    left, right = bilateral_difference(stack, spacing_mm)
    candidates = extract_candidates(np.maximum(left, right), min_distance=min_distance_px, max_candidates=count)
    return [(int(c.centre[1]), int(c.centre[0])) for c in candidates if c.score > 0]
