"""Breast B-mode images from a linear probe: the layers a breast scan shows, with or without lesions.

From the skin down: the skin line (bright), subcutaneous fat (hypoechoic, lobulated) crossed by Cooper's
ligaments (thin bright arcs), the fibroglandular layer (hyperechoic, heterogeneous), retromammary fat and the
pectoral muscle (striated), separated by bright fasciae. Lesions sit in the glandular layer; their masks are
the exact regions the scene gives lesion tissue, so a segmentation target matches the image by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from custom.ultrasound.synthetic.bmode import Look, Probe, form_image, pixel_size_mm
from custom.ultrasound.synthetic.lesions import (
    LesionPlan, lesion_attenuation, lesion_mask, lesion_reflectivity, plan_lesion,
)
from custom.ultrasound.synthetic.shapes import band, smooth_field, smooth_profile

PROBE = Probe("linear", depth_mm=40.0, frequency_mhz=7.5, beam_sigma_lines=1.2)
TISSUE_ATTENUATION = 0.75  # dB/(cm MHz), breast parenchyma and fat alike at this level of detail
PATHOLOGIES = ("benign", "malignant", "normal")
ATTEMPTS = 40  # lesion placements tried, shrinking the lesion every 5


@dataclass(frozen=True)
class BreastImage:
    """A grey B-mode image (uint8), one exact boolean mask per lesion, and how each lesion was drawn."""

    image: np.ndarray
    masks: tuple[np.ndarray, ...]
    lesions: tuple[LesionPlan, ...]


def breast_image(rng: np.random.Generator, shape: tuple[int, int], pathology: str, n_lesions: int = 1,
                 probe: Probe = PROBE) -> BreastImage:
    """One breast image of ``pathology`` ("benign", "malignant" or "normal": no lesion) with ``n_lesions``
    non-overlapping lesions, under scanner settings drawn from ``rng``."""
    if pathology not in PATHOLOGIES:
        raise ValueError(f"pathology must be one of {PATHOLOGIES}, got {pathology!r}")
    pixel = pixel_size_mm(probe, shape)
    reflectivity, gland_rows = _tissue(rng, shape, pixel)
    attenuation = np.full(shape, TISSUE_ATTENUATION)
    plans, masks = [], []
    for _ in range(0 if pathology == "normal" else n_lesions):
        plan, mask = _place_lesion(rng, pathology, shape, pixel, gland_rows, masks, 0.75 if n_lesions > 1 else 1.0)
        if plan.kind == "malignant" and rng.random() < 0.5:  # echogenic halo
            halo = ndimage.binary_dilation(mask, iterations=max(1, round(1.0 / pixel))) & ~mask
            reflectivity = np.where(halo, np.maximum(reflectivity, 1.5), reflectivity)
        reflectivity = np.where(mask, lesion_reflectivity(rng, plan, shape), reflectivity)
        attenuation[mask] = lesion_attenuation(plan, mask, TISSUE_ATTENUATION, probe.frequency_mhz, pixel)
        plans.append(plan)
        masks.append(mask)
    look = Look(dynamic_range_db=rng.uniform(48, 60), level_db=rng.uniform(22, 28),
                tgc_attenuation=TISSUE_ATTENUATION * rng.uniform(0.9, 1.05))
    image = form_image(reflectivity, attenuation, probe, look, rng)
    return BreastImage(image, tuple(masks), tuple(plans))


def _tissue(rng: np.random.Generator, shape: tuple[int, int], pixel: float) -> tuple[np.ndarray, tuple]:
    """Reflectivity of the normal layers, and the rows (per column) where the glandular layer starts and ends."""
    height, width = shape
    rows = np.arange(height, dtype=float)[:, None]
    skin = rng.uniform(1.5, 2.5) / pixel
    fat_end = (rng.uniform(5, 11) + smooth_profile(rng, width, rng.uniform(1, 3))) / pixel + skin
    gland_end = fat_end + (rng.uniform(11, 20) + smooth_profile(rng, width, rng.uniform(1, 4))) / pixel
    muscle = gland_end + (rng.uniform(2, 5) + smooth_profile(rng, width, 1)) / pixel
    fat = 0.1 * np.exp(0.35 * smooth_field(rng, shape, 4.0 / pixel))
    gland = np.exp(0.5 * smooth_field(rng, shape, 1.2 / pixel) - 0.1)
    striations = 1 + 8 * np.maximum(0, np.sin(2 * np.pi * (rows - muscle[None, :]) * pixel / rng.uniform(2, 3.5))) ** 12
    reflectivity = np.where(rows < fat_end, fat, np.where(rows < gland_end, gland, fat))
    reflectivity = np.where(rows >= muscle, 0.12 * striations, reflectivity)
    reflectivity = reflectivity + _ligaments(rng, shape, skin, fat_end)
    fascia = 0.25 / pixel
    for centre, half_width, strength in ((np.full(width, skin / 2), skin / 2, 2.5), (gland_end, fascia, 1.5),
                                         (muscle, fascia, 2.5)):
        reflectivity = reflectivity + strength * band(shape, centre, half_width)
    return reflectivity, (fat_end, gland_end)


def _ligaments(rng: np.random.Generator, shape: tuple[int, int], skin: float, fat_end: np.ndarray) -> np.ndarray:
    """Cooper's ligaments: thin bright arcs rising obliquely from the glandular layer to the skin."""
    height, width = shape
    drawn = np.zeros(shape)
    for _ in range(int(rng.integers(1, 5))):
        start = rng.uniform(0.1, 0.9) * width
        lean, bend = rng.uniform(-1.2, 1.2), rng.uniform(-0.02, 0.02)
        for row in np.arange(skin, fat_end[int(start)], 0.5):
            depth = fat_end[int(start)] - row
            col = int(round(start + lean * depth + bend * depth ** 2))
            if 0 <= col < width and row < fat_end[col]:
                drawn[int(row), col] = 3.0
    return ndimage.gaussian_filter(drawn, 0.5) * 2


def _place_lesion(rng, pathology, shape, pixel, gland_rows, masks, scale) -> tuple[LesionPlan, np.ndarray]:
    """A lesion centred in the glandular layer, inside the image and clear of the lesions already placed."""
    height, width = shape
    taken = np.zeros(shape, bool)
    for mask in masks:
        taken |= ndimage.binary_dilation(mask, iterations=max(2, round(2 / pixel)))
    for attempt in range(ATTEMPTS):
        col = rng.uniform(0.15, 0.85) * width
        top, bottom = gland_rows[0][int(col)], gland_rows[1][int(col)]
        row = float(np.clip(rng.uniform(top, bottom), 0.3 * height, 0.6 * height))
        plan = plan_lesion(rng, pathology, (row, col), scale * 0.85 ** (attempt // 5))  # smaller if crowded
        mask = lesion_mask(rng, plan, shape, pixel)
        rows, cols = np.nonzero(mask)
        inside = rows.min() > 0.1 * height and rows.max() < 0.85 * height and cols.min() > 2 and cols.max() < width - 3
        if inside and not (mask & taken).any():
            return plan, mask
    raise RuntimeError(f"no room for lesion {len(masks) + 1} in a {height} x {width} image after {ATTEMPTS} attempts")
