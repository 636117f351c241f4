"""Power-law (1/f^beta) random fields: the standard statistical model of mammographic tissue texture.

Measured breast-tissue power spectra fall off as 1/f^beta with beta about 3 (range 1.5-3.5), so a
Gaussian field with that spectrum, thresholded softly into fat and glandular tissue, looks and
behaves like parenchyma for patch-level learning.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft, ndimage


BANDS = ("all", "coarse", "fine")


def power_law_field(
    shape: tuple[int, int],
    spacing_mm: float,
    rng: np.random.Generator,
    *,
    beta: float = 3.0,
    largest_mm: float = 60.0,
    band: str = "all",
    crossover_mm: float = 25.0,
) -> np.ndarray:
    """A zero-mean, unit-variance float32 field whose power spectrum is 1/f^beta.

    Frequencies are in cycles per mm, so the texture keeps its physical scale at any pixel spacing.
    The spectrum is flattened below 1/largest_mm so the field is not one image-wide gradient.
    ``band`` keeps only the structures coarser (``"coarse"``) or finer (``"fine"``) than ``crossover_mm``,
    through complementary filters: ``sqrt(s) * coarse + sqrt(1 - s) * fine``, with ``s`` from
    :func:`coarse_share`, again has the full 1/f^beta spectrum.
    """
    if band not in BANDS:
        raise ValueError(f"band must be one of {BANDS}, got {band!r}")
    amplitude = _amplitude(shape, spacing_mm, beta, largest_mm, band, crossover_mm)
    # uniform coefficients are cheaper than Gaussian ones and give the same expected spectrum; each
    # pixel sums very many of them, so the field is still close to Gaussian
    spectrum = np.empty(amplitude.shape, dtype=np.complex64)
    spectrum.real = rng.random(amplitude.shape, dtype=np.float32)
    spectrum.imag = rng.random(amplitude.shape, dtype=np.float32)
    spectrum -= np.complex64(0.5 + 0.5j)
    spectrum *= amplitude
    field = fft.irfft2(spectrum, s=shape)
    field *= np.float32(1.0) / (field.std() + np.float32(1e-12))  # zero mean already: no DC term
    return field


@lru_cache(maxsize=16)
def coarse_share(shape: tuple[int, int], spacing_mm: float, beta: float = 3.0, largest_mm: float = 60.0,
                 crossover_mm: float = 25.0) -> float:
    """The share of a 1/f^beta field's variance held by structures coarser than ``crossover_mm``."""
    full = _amplitude(shape, spacing_mm, beta, largest_mm, "all", crossover_mm)
    coarse = _amplitude(shape, spacing_mm, beta, largest_mm, "coarse", crossover_mm)
    return float((coarse.astype(np.float64) ** 2).sum() / (full.astype(np.float64) ** 2).sum())


@lru_cache(maxsize=16)
def _amplitude(shape: tuple[int, int], spacing_mm: float, beta: float, largest_mm: float, band: str,
               crossover_mm: float) -> np.ndarray:
    """Square root of the power spectrum on the rfft2 grid, DC removed, times the band's filter."""
    h, w = shape
    fy = np.fft.fftfreq(h, d=spacing_mm).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(w, d=spacing_mm).astype(np.float32)[None, :]
    f0 = np.float32(1.0 / largest_mm)
    squared = fy * fy + fx * fx
    amplitude = (squared + f0 * f0) ** np.float32(-beta / 4.0)
    if band != "all":
        coarse = 1.0 / (1.0 + (squared * np.float32(crossover_mm**2)) ** 2)  # 4th-order low-pass on power
        amplitude *= np.sqrt(coarse if band == "coarse" else 1.0 - coarse).astype(np.float32)
    amplitude[0, 0] = 0.0
    amplitude.flags.writeable = False
    return amplitude


def converging_strands(
    shape: tuple[int, int],
    spacing_mm: float,
    rng: np.random.Generator,
    nipple: tuple[float, float],
    *,
    spread_mm: float = 2.5,
    radial_stretch: float = 12.0,
    width: float = 0.06,
) -> np.ndarray:
    """Thin curvilinear strands in [0, 1] that run towards the nipple, like ducts and ligaments.

    The strands are the zero crossings of a smooth random field laid out in polar coordinates around the
    nipple and stretched ``radial_stretch`` times along the radius, so they fan out from the nipple.
    ``spread_mm`` is the field's correlation length across the strands, 50 mm from the nipple; ``width``
    the strands' width as a fraction of it.
    """
    h, w = shape
    dy = (np.arange(h, dtype=np.float32) - np.float32(nipple[0]))[:, None] * np.float32(spacing_mm)
    dx = (np.float32(nipple[1]) - np.arange(w, dtype=np.float32))[None, :] * np.float32(spacing_mm)
    radius = np.hypot(dy, dx)
    angle = np.arctan2(dy, dx)  # 0 points from the nipple straight towards the chest wall
    step = spread_mm / 3.0  # grid of the smooth field, in mm of arc at 50 mm
    along = radius / np.float32(radial_stretch * step)
    across = (angle + np.float32(np.pi)) * np.float32(50.0 / step)
    grid = rng.standard_normal((int(along.max()) + 8, int(across.max()) + 8)).astype(np.float32)
    smooth = ndimage.gaussian_filter(grid, 3.0, mode="wrap")
    smooth /= smooth.std() + np.float32(1e-12)
    values = ndimage.map_coordinates(smooth, [along + 4, across + 4], order=1, mode="nearest")
    return np.exp(-0.5 * (values / np.float32(width)) ** 2).astype(np.float32)
