"""Map points and boxes between ``read_mammogram`` output pixels and the original file's pixels.

Coordinates are continuous ``(x, y)``: pixel ``(row r, column c)`` covers ``[c, c + 1) x [r, r + 1)``,
so a pixel index maps through its centre ``c + 0.5`` and boxes ``(xmin, ymin, xmax, ymax)`` are
edges. The reader applies, in order: a left-right flip of the original (``meta["flipped"]``), a crop to
``meta["crop_box"] = (y0, x0, y1, x1)`` of the flipped image, and a resampling by ``meta["scale"]`` that
keeps the pixel grid anchored at the crop's corner. These maps are exact inverses of each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def original_to_output(points: Sequence[Sequence[float]] | np.ndarray, meta: Mapping[str, Any]) -> np.ndarray:
    """``(N, 2)`` original ``(x, y)`` points -> output ``(x, y)`` points (float64)."""
    xy = _as_points(points)
    width = meta["original_shape"][1]
    y0, x0 = meta["crop_box"][:2]
    x = width - xy[:, 0] if meta["flipped"] else xy[:, 0]
    return np.stack([(x - x0) * meta["scale"], (xy[:, 1] - y0) * meta["scale"]], axis=1)


def output_to_original(points: Sequence[Sequence[float]] | np.ndarray, meta: Mapping[str, Any]) -> np.ndarray:
    """``(N, 2)`` output ``(x, y)`` points -> original ``(x, y)`` points (float64)."""
    xy = _as_points(points)
    width = meta["original_shape"][1]
    y0, x0 = meta["crop_box"][:2]
    x = xy[:, 0] / meta["scale"] + x0
    return np.stack([width - x if meta["flipped"] else x, xy[:, 1] / meta["scale"] + y0], axis=1)


def box_original_to_output(box: Sequence[float], meta: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """Original ``(xmin, ymin, xmax, ymax)`` -> output box; corners are re-ordered after a flip."""
    return _box(original_to_output(np.reshape(np.asarray(box, dtype=np.float64), (2, 2)), meta))


def box_output_to_original(box: Sequence[float], meta: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """Output ``(xmin, ymin, xmax, ymax)`` -> original box; corners are re-ordered after a flip."""
    return _box(output_to_original(np.reshape(np.asarray(box, dtype=np.float64), (2, 2)), meta))


def _as_points(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    xy = np.asarray(points, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"expected (N, 2) points as (x, y), got shape {xy.shape}")
    return xy


def _box(corners: np.ndarray) -> tuple[float, float, float, float]:
    low, high = corners.min(axis=0), corners.max(axis=0)
    return float(low[0]), float(low[1]), float(high[0]), float(high[1])
