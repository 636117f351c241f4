"""Power-law (1/f^beta) random fields: the standard statistical model of mammographic tissue texture.

Measured breast-tissue power spectra fall off as 1/f^beta with beta about 3 (range 1.5-3.5), so a
Gaussian field with that spectrum, thresholded softly into fat and glandular tissue, looks and
behaves like parenchyma for patch-level learning.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft


def power_law_field(
    shape: tuple[int, int],
    spacing_mm: float,
    rng: np.random.Generator,
    *,
    beta: float = 3.0,
    largest_mm: float = 60.0,
) -> np.ndarray:
    """A zero-mean, unit-variance float32 field whose power spectrum is 1/f^beta.

    Frequencies are in cycles per mm, so the texture keeps its physical scale at any pixel spacing.
    The spectrum is flattened below 1/largest_mm so the field is not one image-wide gradient.
    """
    amplitude = _amplitude(shape, spacing_mm, beta, largest_mm)
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


@lru_cache(maxsize=8)
def _amplitude(shape: tuple[int, int], spacing_mm: float, beta: float, largest_mm: float) -> np.ndarray:
    """Square root of the power spectrum on the rfft2 grid, DC removed."""
    h, w = shape
    fy = np.fft.fftfreq(h, d=spacing_mm).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(w, d=spacing_mm).astype(np.float32)[None, :]
    f0 = np.float32(1.0 / largest_mm)
    amplitude = (fy * fy + fx * fx + f0 * f0) ** np.float32(-beta / 4.0)
    amplitude[0, 0] = 0.0
    amplitude.flags.writeable = False
    return amplitude
