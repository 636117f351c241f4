"""What people add to a breast ultrasound image: the outline an annotator draws by hand, which is what a data
set's mask file holds, and the calipers or markers a sonographer leaves burned into the image.

Real masks (BUSI's among them) are hand-drawn: a polygon clicked around the lesion's body, smoother than the
true margin (thin spicules are left out) and off it by a few per cent of the lesion's diameter. A network
trained and scored on such masks cannot reach Dice 1 even on a perfect prediction of the true margin.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage
from skimage.draw import line, polygon

from custom.ultrasound.synthetic.lesions import LesionPlan

OUTLINE_SAMPLES = 720  # radius samples around the lesion, half a degree apart
BODY_SMOOTHING = 12  # samples (6 degrees): what the annotator follows rather than every spicule
CALIPER_SHARE = 1 / 3  # images with calipers or markers
WOBBLE_ORDERS = range(2, 9)  # harmonics of an annotator's wobble around the margin


def hand_drawn_mask(rng: np.random.Generator, plan: LesionPlan, radius: Callable[[np.ndarray], np.ndarray],
                    shape: tuple[int, int]) -> np.ndarray:
    """The outline an annotator draws around ``plan``'s lesion: a polygon of 14-30 clicks on its body, off
    the true margin by a smooth wobble of 1.5-4% of the diameter (half as much again for an indistinct
    margin) and a bias of about 1% for the whole outline."""
    angles = np.linspace(-np.pi, np.pi, OUTLINE_SAMPLES, endpoint=False)
    body = ndimage.gaussian_filter1d(radius(angles), BODY_SMOOTHING, mode="wrap")
    diameter = 2 * body.mean()
    spread = rng.uniform(0.015, 0.04) * (1.5 if plan.margin == "indistinct" else 1.0)
    drawn = body + diameter * (rng.normal(0, 0.01) + spread * _periodic_wobble(rng, angles))
    clicks = int(rng.integers(14, 31))
    at = (np.arange(clicks) + rng.uniform(-0.3, 0.3, clicks)) / clicks * 2 * np.pi - np.pi
    reach = np.maximum(np.interp(at, angles, drawn, period=2 * np.pi), 1.0)
    rows, cols = polygon(plan.center[0] + reach * np.sin(at), plan.center[1] + reach * np.cos(at), shape)
    mask = np.zeros(shape, bool)
    mask[rows, cols] = True
    return mask


def _periodic_wobble(rng: np.random.Generator, angles: np.ndarray) -> np.ndarray:
    """A smooth random closed curve of unit standard deviation (harmonics falling as 1/k)."""
    curve = sum(rng.normal() / k * np.cos(k * angles + rng.uniform(0, 2 * np.pi)) for k in WOBBLE_ORDERS)
    return curve / max(curve.std(), 1e-9)


def burn_calipers(rng: np.random.Generator, image: np.ndarray, masks: tuple[np.ndarray, ...]) -> np.ndarray:
    """``image`` with calipers burned in (white, one pixel wide): "+" or "x" marks at the ends of the first
    lesion's width and, often, its height, sometimes joined by a dotted line; on an image without a lesion, a
    pair on the tissue, as when a layer was measured."""
    out = image.copy()
    height, width = image.shape
    arm = max(2, round(min(height, width) / 70))
    cross = rng.random() < 0.7
    pairs = []
    if masks:
        rows, cols = np.nonzero(masks[0])
        row, col = int(round(rows.mean())), int(round(cols.mean()))
        gap = int(rng.integers(0, 3))
        across = cols[rows == row] if (rows == row).any() else cols
        pairs.append(((row, across.min() - 1 - gap), (row, across.max() + 1 + gap)))
        if rng.random() < 0.7:
            down = rows[cols == col] if (cols == col).any() else rows
            pairs.append(((down.min() - 1 - gap, col), (down.max() + 1 + gap, col)))
    else:
        row = int(rng.uniform(0.3, 0.7) * height)
        left = int(rng.uniform(0.15, 0.5) * width)
        pairs.append(((row, left), (row + int(rng.integers(-5, 6)), left + int(rng.uniform(0.15, 0.4) * width))))
    dotted = rng.random() < 0.3
    for start, end in pairs:
        for point in (start, end):
            _mark(out, point, arm, cross)
        if dotted:
            rows, cols = line(*start, *end)
            keep = (np.arange(rows.size) % 4 == 0) & (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
            out[rows[keep], cols[keep]] = 255
    return out


def _mark(image: np.ndarray, point: tuple[int, int], arm: int, cross: bool) -> None:
    """One caliper mark, "+" (``cross``) or "x", centred on ``point`` and cut to the image."""
    offsets = np.arange(-arm, arm + 1)
    if cross:
        rows = np.concatenate([point[0] + offsets, np.full(offsets.size, point[0])])
        cols = np.concatenate([np.full(offsets.size, point[1]), point[1] + offsets])
    else:
        rows = np.concatenate([point[0] + offsets, point[0] + offsets])
        cols = np.concatenate([point[1] + offsets, point[1] - offsets])
    inside = (rows >= 0) & (rows < image.shape[0]) & (cols >= 0) & (cols < image.shape[1])
    image[rows[inside], cols[inside]] = 255
