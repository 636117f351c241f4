"""Random smooth curves, textures and star-shaped regions: the building blocks of the organ scenes."""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage


def smooth_profile(rng: np.random.Generator, length: int, amplitude: float, harmonics: int = 4) -> np.ndarray:
    """A random smooth 1-D curve (sum of sinusoids, amplitude falling as 1/k), of peak about ``amplitude``:
    wavy tissue boundaries."""
    t = np.linspace(0, 1, length)
    curve = np.zeros(length)
    for k in range(1, harmonics + 1):
        curve += rng.normal() / k * np.sin(2 * np.pi * (k * t / 2 + rng.random()))
    return amplitude * curve / max(np.abs(curve).max(), 1e-9)


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float | tuple[float, float]) -> np.ndarray:
    """Zero-mean, unit-std Gaussian-filtered noise: tissue heterogeneity at the scale ``sigma`` (pixels)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return (field - field.mean()) / max(field.std(), 1e-9)


def star_mask(shape: tuple[int, int], center: tuple[float, float],
              radius_at: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Pixels (by their centres) nearer to ``center`` (row, col) than ``radius_at(angle)``: any star-shaped
    region, from an ellipse to a spiculated mass."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    dy, dx = rows - center[0], cols - center[1]
    return np.hypot(dy, dx) < radius_at(np.arctan2(dy, dx))


def ellipse_radius(semi_axes: tuple[float, float], tilt: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """Radius of an ellipse as a function of the polar angle (rows down, cols right): ``semi_axes``
    (vertical, horizontal) before the ellipse is turned by ``tilt`` radians."""
    a, b = semi_axes

    def radius(angle: np.ndarray) -> np.ndarray:
        local = angle - tilt
        return a * b / np.sqrt((b * np.sin(local)) ** 2 + (a * np.cos(local)) ** 2)

    return radius


def perturbed_radius(rng: np.random.Generator, base: Callable[[np.ndarray], np.ndarray], spread: dict[int, float],
                     floor: float = 0.3) -> Callable[[np.ndarray], np.ndarray]:
    """``base`` radius times ``1 + sum_k c_k cos(k angle + phase_k)`` with ``c_k ~ N(0, spread[k])`` (at least
    ``floor``): low orders make a shape irregular, high orders lobulated."""
    terms = [(order, rng.normal(0, std), rng.uniform(0, 2 * np.pi)) for order, std in spread.items()]

    def radius(angle: np.ndarray) -> np.ndarray:
        factor = 1 + sum(c * np.cos(order * angle + phase) for order, c, phase in terms)
        return base(angle) * np.maximum(factor, floor)

    return radius


def band(shape: tuple[int, int], centre_row: np.ndarray, half_width: float) -> np.ndarray:
    """Weight 0-1 of a horizontal band following ``centre_row`` (one value per column), with soft edges
    one pixel wide: skin, fascia, pleura."""
    rows = np.arange(shape[0], dtype=float)[:, None]
    return np.clip(half_width + 0.5 - np.abs(rows - centre_row[None, :]), 0.0, 1.0)


def coarse_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """:func:`smooth_field` for large ``sigma``: drawn on a grid coarser by up to ``sigma / 2`` and interpolated
    up, which keeps the texture and costs a fraction of filtering full-size noise with a wide kernel."""
    step = max(1, int(sigma // 2))
    small = (int(np.ceil(shape[0] / step)) + 1, int(np.ceil(shape[1] / step)) + 1)
    field = ndimage.gaussian_filter(rng.standard_normal(small), sigma / step)
    rows = np.arange(shape[0]) / step
    cols = np.arange(shape[1]) / step
    field = ndimage.map_coordinates(field, np.meshgrid(rows, cols, indexing="ij"), order=1)
    return (field - field.mean()) / max(field.std(), 1e-9)


def box_around(shape: tuple[int, int], center: tuple[float, float], reach: float) -> tuple[slice, slice]:
    """The pixels within ``reach`` of ``center`` (row, col) along each axis, cut to the image: where a local
    shape needs computing at all."""
    rows = slice(max(0, int(center[0] - reach)), min(shape[0], int(np.ceil(center[0] + reach)) + 1))
    cols = slice(max(0, int(center[1] - reach)), min(shape[1], int(np.ceil(center[1] + reach)) + 1))
    return rows, cols


def local_star_mask(shape: tuple[int, int], center: tuple[float, float],
                    radius_at: Callable[[np.ndarray], np.ndarray], reach: float) -> np.ndarray:
    """:func:`star_mask` computed only within ``reach`` pixels of ``center`` (the region's largest radius):
    the same pixels, at the cost of the region's box rather than the whole image."""
    rows, cols = box_around(shape, center, reach)
    mask = np.zeros(shape, bool)
    local = star_mask((rows.stop - rows.start, cols.stop - cols.start),
                      (center[0] - rows.start, center[1] - cols.start), radius_at)
    mask[rows, cols] = local
    return mask
