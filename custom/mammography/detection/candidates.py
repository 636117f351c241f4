"""Lesion candidates from any 2-D score map: separated local maxima, each with a half-peak box.

Coordinates follow ``custom.mammography.data.geometry``: pixel ``(row r, column c)`` covers ``[c, c + 1) x [r, r + 1)``,
so a peak at pixel ``(r, c)`` has its centre at ``(c + 0.5, r + 0.5)`` and boxes ``(xmin, ymin, xmax, ymax)``
are pixel edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Candidate:
    """One suspected lesion: the breast it is on, its box and centre (pixels of its map), and its score."""

    side: str
    box: tuple[float, float, float, float]
    score: float
    centre: tuple[float, float]


def extract_candidates(
    score_map: np.ndarray,
    *,
    side: str = "",
    min_distance: float = 48.0,
    max_candidates: int = 10,
    min_score: float = 0.0,
    step: int = 1,
) -> list[Candidate]:
    """The ``max_candidates`` highest local maxima of ``score_map`` at least ``min_distance`` pixels apart.

    A pixel is a local maximum when no pixel within ``min_distance`` (a square window) is higher and its value
    exceeds ``min_score``; a flat top counts once, at its centre; of maxima closer than ``min_distance`` only
    the highest is kept. Each candidate's box bounds the pixels at or above half its peak that are connected
    to the peak; its score is the peak value. Sorted by score, best first.

    ``step > 1`` looks only at every ``step``-th pixel of each axis (from pixel 0): for smooth maps, such as
    heatmaps interpolated from a coarse grid, it finds the same candidates ``step ** 2`` times faster, with
    peaks, centres and box edges taken from the sampled pixels (within ``step / 2`` pixels of the full-resolution
    ones; exact when the maxima lie on sampled pixels). Coordinates are always those of ``score_map``.
    """
    values = np.asarray(score_map, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"score_map must be 2-D, got shape {values.shape}")
    if min_distance < 1 or max_candidates < 0 or step < 1:
        raise ValueError(
            f"need min_distance >= 1, max_candidates >= 0 and step >= 1, got {min_distance}, {max_candidates}, {step}"
        )
    sampled = values[::step, ::step]
    distance = min_distance / step
    window = max(1, 2 * int(np.ceil(distance)) - 1)
    highest_near = ndimage.maximum_filter(sampled, size=window, mode="constant", cval=-np.inf)
    peaks = (sampled == highest_near) & (sampled > min_score)
    kept: list[tuple[int, int]] = []
    for row, col in sorted(_plateau_centres(peaks), key=lambda rc: -sampled[rc]):
        if len(kept) == max_candidates:
            break
        if all((row - r) ** 2 + (col - c) ** 2 >= distance**2 for r, c in kept):
            kept.append((row, col))
    return [_candidate(sampled, row, col, side, step, values.shape) for row, col in kept]


def _plateau_centres(peaks: np.ndarray) -> list[tuple[int, int]]:
    """One pixel per connected group of peak pixels (a flat top): the one nearest the group's centroid.

    Touching peak pixels are each the maximum of the other's window, so a group shares one value.
    """
    labels, _ = ndimage.label(peaks, structure=np.ones((3, 3)))
    centres = []
    for index, found in enumerate(ndimage.find_objects(labels), start=1):
        rows, cols = np.nonzero(labels[found] == index)
        nearest = np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2)
        centres.append((int(rows[nearest] + found[0].start), int(cols[nearest] + found[1].start)))
    return centres


def _candidate(sampled: np.ndarray, row: int, col: int, side: str, step: int, shape: tuple[int, int]) -> Candidate:
    """The candidate at ``(row, col)`` of the map sampled every ``step`` pixels of a map of ``shape``."""
    peak = float(sampled[row, col])
    labels, _ = ndimage.label(sampled >= peak / 2)
    rows, cols = ndimage.find_objects(labels)[labels[row, col] - 1]
    half = step // 2  # a sampled pixel stands for the pixels up to half a step either side of it
    box = (
        float(max(0, cols.start * step - half)),
        float(max(0, rows.start * step - half)),
        float(min(shape[1], (cols.stop - 1) * step + half + 1)),
        float(min(shape[0], (rows.stop - 1) * step + half + 1)),
    )
    return Candidate(side=side, box=box, score=peak, centre=(col * step + 0.5, row * step + 0.5))
