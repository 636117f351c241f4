"""Breast B-mode images from a linear probe: the layers a breast scan shows, with or without lesions.

From the skin down: the skin line (bright), subcutaneous fat (hypoechoic, lobulated) crossed by Cooper's
ligaments (thin bright arcs), the fibroglandular layer (hyperechoic, heterogeneous, with fat lobules that look
like hypoechoic masses), retromammary fat and the pectoral muscle (striated), separated by bright fasciae.
Scanner settings (depth, frequency, beam width, dynamic range, gain, time-gain compensation) vary per image.

Lesions (``lesions.py``) sit in the glandular layer or in fat; each has its exact region (where the scene puts
lesion tissue) and the outline an annotator drew by hand (``annotation.py``), which is what a data set's mask
file holds. A third of the images carry calipers or markers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from custom.ultrasound.synthetic.annotation import CALIPER_SHARE, burn_calipers, hand_drawn_mask
from custom.ultrasound.synthetic.bmode import Look, Probe, form_image, pixel_size_mm
from custom.ultrasound.synthetic.lesions import (
    LesionPlan, LesionRegion, lesion_attenuation, lesion_outline, lesion_reflectivity, lesion_region, plan_lesion,
)
from custom.ultrasound.synthetic.shapes import (
    band, coarse_field, ellipse_radius, local_star_mask, perturbed_radius, smooth_field, smooth_profile,
)

TISSUE_ATTENUATION = 0.75  # dB/(cm MHz), breast parenchyma and fat alike at this level of detail
FAT_LEVEL = 0.1  # backscatter of fat against glandular tissue's 1 (-10 dB)
DUCT_LEVEL = 0.02  # fluid in a duct: nearly anechoic
PATHOLOGIES = ("benign", "malignant", "normal")
SPECKLE_REDUCTION_SHARE = 0.5  # images smoothed by the scanner (speckle reduction, e.g. GE's SRI on BUSI's LOGIQ E9)
ATTEMPTS = 60  # lesion placements tried, shrinking the lesion by a fifth every 4
MIN_WIDTH_MM = 3.0  # no smaller when shrunk


@dataclass(frozen=True)
class BreastImage:
    """A grey B-mode image (uint8, calipers burned in), one hand-drawn mask per lesion (what the data set's mask
    files hold), the lesions' exact regions, how each lesion was drawn, and the scan's pixel size and look."""

    image: np.ndarray
    masks: tuple[np.ndarray, ...]
    exact_masks: tuple[np.ndarray, ...]
    lesions: tuple[LesionPlan, ...]
    pixel_mm: float
    look: Look
    calipers: bool


@dataclass(frozen=True)
class Layers:
    """Rows (per column, pixels) where the skin ends, the subcutaneous fat ends and the glandular layer ends."""

    skin: float
    fat_end: np.ndarray
    gland_end: np.ndarray


def breast_image(rng: np.random.Generator, shape: tuple[int, int], pathology: str, n_lesions: int = 1) -> BreastImage:
    """One breast image of ``pathology`` ("benign", "malignant" or "normal": no lesion) with ``n_lesions``
    non-overlapping lesions, under scanner settings drawn from ``rng``."""
    if pathology not in PATHOLOGIES:
        raise ValueError(f"pathology must be one of {PATHOLOGIES}, got {pathology!r}")
    probe = Probe("linear", depth_mm=rng.uniform(30, 50), frequency_mhz=rng.uniform(7, 11),
                  beam_sigma_lines=rng.uniform(0.9, 1.5))
    pixel = pixel_size_mm(probe, shape)
    reflectivity, fat, layers = _tissue(rng, shape, pixel)
    attenuation = np.full(shape, TISSUE_ATTENUATION)
    plans, exact, outlines = [], [], []
    taken = np.zeros(shape, bool)
    for _ in range(0 if pathology == "normal" else n_lesions):
        scale = 0.75 if n_lesions > 1 else 1.0
        plan, radius, region = _place_lesion(rng, pathology, shape, pixel, layers, taken, scale)
        _insert_lesion(rng, plan, region, reflectivity, fat, attenuation, probe.frequency_mhz, pixel)
        mask = region.full(region.mask, shape, False)
        taken |= ndimage.binary_dilation(mask, iterations=max(2, round(2 / pixel)))
        plans.append(plan)
        exact.append(mask)
        outlines.append(radius)
    look = Look(dynamic_range_db=rng.uniform(40, 70), level_db=rng.uniform(18, 32),
                tgc_attenuation=TISSUE_ATTENUATION * rng.uniform(0.85, 1.1))
    image = form_image(reflectivity, attenuation, probe, look, rng)
    if rng.random() < SPECKLE_REDUCTION_SHARE:  # the scanner's speckle reduction smooths some images
        image = np.round(ndimage.gaussian_filter(image.astype(float), rng.uniform(0.5, 1.5))).astype(np.uint8)
    drawn, covered = [], np.zeros(shape, bool)
    for plan, radius in zip(plans, outlines, strict=True):
        mask = hand_drawn_mask(rng, plan, radius, shape) & ~covered
        covered |= mask
        drawn.append(mask)
    calipers = bool(rng.random() < CALIPER_SHARE)
    if calipers:
        image = burn_calipers(rng, image, tuple(exact))
    return BreastImage(image, tuple(drawn), tuple(exact), tuple(plans), float(pixel), look, calipers)


def _tissue(rng: np.random.Generator, shape: tuple[int, int], pixel: float) -> tuple[np.ndarray, np.ndarray, Layers]:
    """Backscatter of the normal layers, that of fat everywhere (for lesions lying in fat), and the layers."""
    height, width = shape
    rows = np.arange(height, dtype=float)[:, None]
    skin = rng.uniform(1.5, 2.5) / pixel
    fat_end = (rng.uniform(4, 14) + smooth_profile(rng, width, rng.uniform(1, 3))) / pixel + skin
    gland_end = fat_end + (rng.uniform(6, 20) + smooth_profile(rng, width, rng.uniform(1, 4))) / pixel
    muscle = gland_end + (rng.uniform(2, 6) + smooth_profile(rng, width, 1)) / pixel
    fat = FAT_LEVEL * np.exp(0.35 * coarse_field(rng, shape, 4.0 / pixel))
    spread = rng.uniform(0.35, 0.9)  # from homogeneous to heterogeneous fibroglandular tissue
    gland = np.exp(spread * coarse_field(rng, shape, 1.2 / pixel) - spread ** 2 / 2)
    gland = np.where(_fat_lobules(rng, shape, pixel, fat_end, gland_end), fat, gland)
    gland = np.where(_ducts(rng, shape, pixel, fat_end, gland_end), DUCT_LEVEL, gland)
    period = rng.uniform(2, 3.5)  # mm between the fibro-fatty septa of the pectoral muscle
    striations = 1 + 3 * np.maximum(0, np.sin(2 * np.pi * (rows - muscle[None, :]) * pixel / period)) ** 12
    reflectivity = np.where(rows < fat_end, fat, np.where(rows < gland_end, gland, fat))
    reflectivity = np.where(rows >= muscle, 0.12 * striations, reflectivity)
    reflectivity = reflectivity + _ligaments(rng, shape, skin, fat_end)
    fascia = 0.25 / pixel
    for centre, half_width, strength in ((np.full(width, skin / 2), skin / 2, 2.5), (gland_end, fascia, 1.5),
                                         (muscle, fascia, 2.5)):
        reflectivity = reflectivity + strength * band(shape, centre, half_width)
    return reflectivity, fat, Layers(float(skin), fat_end, gland_end)


def _fat_lobules(rng: np.random.Generator, shape: tuple[int, int], pixel: float, fat_end: np.ndarray,
                 gland_end: np.ndarray) -> np.ndarray:
    """Fat lobules inside the glandular layer: hypoechoic ovals of 2-12 mm, the commonest mimic of a mass."""
    lobules = np.zeros(shape, bool)
    for _ in range(int(rng.poisson(5))):
        col = rng.uniform(0, shape[1] - 1)
        row = rng.uniform(fat_end[int(col)], gland_end[int(col)])
        semi_axes = (rng.uniform(1.0, 4.0) / pixel, rng.uniform(2.0, 6.0) / pixel)
        radius = perturbed_radius(rng, ellipse_radius(semi_axes, rng.uniform(-0.3, 0.3)), {2: 0.08, 3: 0.08})
        lobules |= local_star_mask(shape, (row, col), radius, 1.3 * max(semi_axes) + 2)
    return lobules


def _ducts(rng: np.random.Generator, shape: tuple[int, int], pixel: float, fat_end: np.ndarray,
           gland_end: np.ndarray) -> np.ndarray:
    """Up to three milk ducts in the glandular layer: nearly anechoic tubes 1.5-4 mm wide and 10-30 mm long,
    running obliquely towards the nipple; cut lengthwise they look like a thin dark band, a mimic of a mass."""
    ducts = np.zeros(shape, bool)
    for _ in range(int(rng.integers(0, 4))):
        col = rng.uniform(0, shape[1] - 1)
        start = np.array([rng.uniform(fat_end[int(col)], gland_end[int(col)]), col])
        angle, bend = rng.uniform(-0.5, 0.5) + np.pi * (rng.random() < 0.5), rng.uniform(-0.02, 0.02)
        steps = np.arange(0, rng.uniform(10, 30) / pixel, 0.5)
        points = start + np.outer(steps, [np.sin(angle), np.cos(angle)]) + np.outer(bend * pixel * steps ** 2, [1, 0])
        inside = (points[:, 0] >= 0) & (points[:, 0] < shape[0]) & (points[:, 1] >= 0) & (points[:, 1] < shape[1])
        centre = np.zeros(shape, bool)
        centre[points[inside, 0].astype(int), points[inside, 1].astype(int)] = True
        radius = rng.uniform(0.75, 2.0) / pixel
        ducts |= ndimage.distance_transform_edt(~centre) < radius if centre.any() else False
    return ducts


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


def _place_lesion(rng, pathology, shape, pixel, layers: Layers, taken, scale):
    """A lesion in the glandular layer (or, for one planned in fat, from the subcutaneous fat down), inside the
    image below the skin and clear of the lesions already placed: its plan, outline and region. What the lesion
    is (kind, margin, orientation, ...) is drawn once, so that lesions hard to fit are not drawn less often."""
    height, width = shape
    planned = plan_lesion(rng, pathology, scale)  # drawn once: retries move and shrink it, never redraw its kind
    if scale < 1:  # one of several: at most 40% of the image's width, so that the next one finds room
        planned = planned.scaled(min(1.0, 0.4 * width * pixel / planned.size_mm[1]))
    for attempt in range(ATTEMPTS):
        plan = planned.scaled(max(0.8 ** (attempt // 4), MIN_WIDTH_MM / planned.size_mm[1]))  # smaller if it must
        crowded = attempt >= ATTEMPTS // 2  # then anywhere below the skin
        col = rng.uniform(0.05, 0.95) * width if crowded else rng.uniform(0.2, 0.8) * width
        fat_end, gland_end = layers.fat_end[int(col)], layers.gland_end[int(col)]
        if crowded:
            row = rng.uniform(layers.skin, height)
        elif plan.in_fat:
            row = rng.uniform(layers.skin, fat_end + 0.3 * (gland_end - fat_end))
        else:
            row = rng.uniform(fat_end, gland_end)
        half = plan.size_mm[0] / 2 / pixel
        row = float(np.clip(row, layers.skin + half + 1 / pixel, height - half - 2 / pixel))
        plan = plan.at((row, col))
        radius = lesion_outline(rng, plan, pixel)
        region = lesion_region(rng, plan, radius, shape, pixel)
        rows, cols = np.nonzero(region.mask)
        rows, cols = rows + region.box[0].start, cols + region.box[1].start
        inside = rows.size and rows.min() > layers.skin and rows.max() < height - 3 and cols.min() > 2 \
            and cols.max() < width - 3
        if inside and not taken[rows, cols].any():
            return plan, radius, region
    raise RuntimeError(f"no room for a lesion in a {height} x {width} image after {ATTEMPTS} attempts")


def _insert_lesion(rng: np.random.Generator, plan: LesionPlan, region: LesionRegion, reflectivity: np.ndarray,
                   fat: np.ndarray, attenuation: np.ndarray, frequency_mhz: float, pixel: float) -> None:
    """Writes the lesion into the scene (in place): a pocket of fat around it if it lies in fat, an echogenic
    halo if it has one, its own backscatter blended across the margin, and the attenuation behind its posterior
    feature."""
    box, distance = region.box, region.distance
    tissue = reflectivity[box]
    if plan.in_fat:
        ragged = distance + smooth_field(rng, distance.shape, max(1.0 / pixel, 1.0)) / pixel
        tissue = np.where(ragged < rng.uniform(2.0, 5.0) / pixel, fat[box], tissue)
    ring = (distance > 1.0 / pixel) & (distance <= 3.0 / pixel)
    surroundings = float(tissue[ring].mean()) if ring.any() else float(tissue.mean())
    if plan.halo_mm:
        halo = (distance > 0) & (distance <= plan.halo_mm / pixel)
        tissue = np.where(halo, np.maximum(tissue, surroundings * 10 ** (rng.uniform(3, 6) / 10)), tissue)
    lesion = lesion_reflectivity(rng, plan, surroundings, tissue.shape, pixel)
    weight = region.weight
    reflectivity[box] = np.exp((1 - weight) * np.log(np.maximum(tissue, 1e-6)) + weight * np.log(lesion))
    local = attenuation[box]
    local[region.mask] = lesion_attenuation(plan, region.mask, TISSUE_ATTENUATION, frequency_mhz, pixel)
