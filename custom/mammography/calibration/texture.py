"""Texture statistics of synthetic mammograms, measured on the written files as on real ones.

- **beta**: the exponent of the power spectrum ``P(f) ~ 1/f^beta`` of breast tissue. Real mammograms
  measure about 2.8 to 3.0 (range 1.5 to 3.5). It is measured as in the literature: square regions fully
  inside the breast of cranio-caudal views (no pectoral muscle), mean removed, Hann-windowed, radially
  averaged periodogram, least-squares slope on log-log axes over a band of spatial frequencies.
- **clip fraction**: the share of breast pixels whose stored value sits at either end of the stored range,
  i.e. tissue the image cannot grade any further.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pydicom
from scipy import ndimage

from custom.mammography.data.reader import read_mammogram
from custom.evaluation.metrics import mean_with_ci

ROI_MM = 32.0  # side of the square regions
BAND_CYCLES_PER_MM = (0.15, 1.0)  # frequencies the slope is fitted on


@dataclass(frozen=True)
class ImageTexture:
    """Per image: the betas of its regions and its clipped and breast pixel counts."""

    betas: tuple[float, ...]
    clipped: int
    breast: int


def spectrum_slope(roi: np.ndarray, spacing_mm: float, band: tuple[float, float] = BAND_CYCLES_PER_MM) -> float:
    """beta of one square region: minus the log-log slope of its radially averaged power spectrum in ``band``."""
    size = roi.shape[0]
    window = np.outer(np.hanning(size), np.hanning(size))
    power = np.abs(np.fft.fftshift(np.fft.fft2((roi - roi.mean()) * window))) ** 2
    freq = np.fft.fftshift(np.fft.fftfreq(size, d=spacing_mm))
    radius = np.hypot(freq[:, None], freq[None, :])
    edges = np.arange(0.0, radius.max(), 1.0 / (size * spacing_mm))
    which = np.digitize(radius.ravel(), edges)
    sums = np.bincount(which, power.ravel(), minlength=edges.size + 1)
    counts = np.bincount(which, minlength=edges.size + 1)
    centres = np.bincount(which, radius.ravel(), minlength=edges.size + 1)
    keep = counts > 0
    f, p = centres[keep] / counts[keep], sums[keep] / counts[keep]
    in_band = (f >= band[0]) & (f <= band[1])
    slope = np.polyfit(np.log(f[in_band]), np.log(p[in_band]), 1)[0]
    return float(-slope)


def image_texture(path, rois_per_image: int = 4, seed: int = 0) -> ImageTexture:
    """Betas of up to ``rois_per_image`` non-overlapping regions of a CC view, and its clip counts."""
    image, meta = read_mammogram(path, crop=False)
    mask = meta["mask"]
    dataset = pydicom.dcmread(path)
    stored = dataset.pixel_array
    top = (1 << int(dataset.BitsStored)) - 1
    breast_stored = (stored[:, ::-1] if meta["flipped"] else stored)[mask]
    clipped = int(np.count_nonzero((breast_stored == 0) | (breast_stored == top)))
    betas: list[float] = []
    spacing = meta["pixel_spacing"]
    if meta["view"] == "CC" and spacing:
        size = int(round(ROI_MM / spacing))
        inside = ndimage.binary_erosion(mask, iterations=max(1, int(5.0 / spacing)))  # clear of the skin line
        ys, xs = np.nonzero(inside)
        rng = np.random.default_rng(seed)
        taken = np.zeros_like(mask)
        for k in rng.permutation(ys.size)[:2000]:
            y0, x0 = ys[k] - size // 2, xs[k] - size // 2
            if y0 < 0 or x0 < 0 or y0 + size > mask.shape[0] or x0 + size > mask.shape[1]:
                continue
            window = (slice(y0, y0 + size), slice(x0, x0 + size))
            if inside[window].all() and not taken[window].any():
                betas.append(spectrum_slope(image[window].astype(np.float64), spacing))
                taken[window] = True
                if len(betas) == rois_per_image:
                    break
    return ImageTexture(tuple(betas), clipped, int(mask.sum()))


def texture_figures(paths_by_patient: dict[str, list], *, n_bootstrap: int = 1000, seed: int = 0) -> dict:
    """Mean beta over the regions of all CC views and the clip fraction over all images, each with a 95 %
    patient-bootstrap CI; ``paths_by_patient`` maps a patient id to their image files."""
    betas, beta_groups, clipped, breast, image_groups = [], [], [], [], []
    for patient, paths in paths_by_patient.items():
        for path in paths:
            texture = image_texture(path, seed=seed)
            betas += texture.betas
            beta_groups += [patient] * len(texture.betas)
            clipped.append(texture.clipped)
            breast.append(texture.breast)
            image_groups.append(patient)
    clipped, breast = np.asarray(clipped, dtype=np.float64), np.asarray(breast, dtype=np.float64)
    # the mean of clipped / mean(breast) is the pooled fraction sum(clipped) / sum(breast)
    share = mean_with_ci(clipped / breast.mean(), image_groups, n_bootstrap=n_bootstrap, seed=seed)
    return {
        "beta": mean_with_ci(betas, beta_groups, n_bootstrap=n_bootstrap, seed=seed).as_dict()
        | {"n_regions": len(betas), "roi_mm": ROI_MM, "band_cycles_per_mm": list(BAND_CYCLES_PER_MM)},
        "clip_fraction": share.as_dict() | {"n_images": len(clipped), "breast_pixels": int(breast.sum())},
    }
