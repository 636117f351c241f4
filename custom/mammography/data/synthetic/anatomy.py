"""Breast anatomy in the aligned frame (chest wall at column 0): outline, pectoral muscle, composition.

One `Anatomy` is drawn per study, so the two breasts share outline, size and density; each breast then
gets a small positioning `Pose` of its own and its own texture, as real contralateral breasts do.
Everything is in millimetres until it is rasterised, so the anatomy does not change with pixel spacing.
Intensities are in presentation units: 0 background, 1 the densest tissue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DENSITIES = ("A", "B", "C", "D")
DENSITY_WEIGHTS = (0.10, 0.30, 0.45, 0.15)
# texture level above which tissue turns glandular: higher means a fattier breast
_DENSITY_THRESHOLD = {"A": 1.6, "B": 0.8, "C": 0.0, "D": -0.8}

FAT = 0.30  # fat, fully compressed thickness
GLAND = 0.32  # extra brightness of fully glandular tissue
MUSCLE = 0.52  # pectoral muscle
BACKGROUND = 0.02
SKIN = 0.10  # extra brightness of the skin line
_SKIN_MM = 0.8  # skin line width
_ROLL_OFF_MM = 12.0  # where the compressed breast thins towards the skin
_SUBCUTANEOUS_MM = (3.0, 12.0)  # subcutaneous fat layer (no glands) ramp
_GRADING = 1.0  # texture units per logistic unit: larger is more graded, smaller more binary
_STRANDS = 0.2  # glandular fraction of a duct or ligament strand
_NOISE = 0.004  # quantum noise, standard deviation (uniform, which is cheaper than Gaussian)


@dataclass(frozen=True)
class Anatomy:
    """What the two breasts of one study share. Fractions are of the field (image) size."""

    density: str
    depth_mm: float  # chest wall to nipple, CC view
    height_mm: float  # CC extent along the chest wall
    upper_share: float  # CC: share of that extent above the nipple
    exponent: float  # super-ellipse exponent of the rounded outline
    nipple_cc: float  # nipple row, CC
    nipple_mlo: float  # nipple row, MLO
    axilla: float  # MLO: breast width at the top edge, fraction of depth
    fold: float  # MLO: inframammary fold row
    pect_width: float  # MLO: pectoral width at the top edge, fraction of depth
    pect_height: float  # MLO: pectoral length along the chest wall, fraction of field height
    pect_curve: float  # MLO: pectoral edge exponent (<1 convex)
    wobble: tuple[tuple[float, float], ...]  # outline harmonics k = 2.. as (amplitude, phase)
    thickness_mm: float  # compressed thickness


@dataclass(frozen=True)
class Pose:
    """How one breast was positioned: small scale and shift differences between the two sides."""

    scale_x: float
    scale_y: float
    shift_y_mm: float


@dataclass(frozen=True)
class BreastGeometry:
    """A rasterised breast in the aligned frame."""

    mask: np.ndarray  # bool, breast including pectoral muscle
    pectoral: np.ndarray  # bool
    skin_mm: np.ndarray  # float32 distance to the skin outline (0 outside; the chest wall is no skin)
    envelope: np.ndarray  # float32 in [0, 1]: where glandular tissue may lie
    chest_mm: np.ndarray  # float32 distance from the chest wall or pectoral edge, per pixel
    nipple: tuple[float, float]  # (row, col) in pixels, on the outline


def sample_anatomy(rng: np.random.Generator, field_mm: tuple[float, float]) -> Anatomy:
    """Draw one study's anatomy, shrunk where needed so the breast fits the detector field."""
    field_h, field_w = field_mm
    depth = min(rng.uniform(60.0, 140.0), 0.82 * field_w)
    height = min(rng.uniform(1.3, 1.7) * depth + 20.0, 0.9 * field_h)
    upper = rng.uniform(0.42, 0.55)
    margin = 0.5 * (1.0 - height / field_h)
    nipple_cc = margin + upper * height / field_h + rng.uniform(-0.5, 0.5) * margin
    return Anatomy(
        density=str(rng.choice(DENSITIES, p=DENSITY_WEIGHTS)),
        depth_mm=depth,
        height_mm=height,
        upper_share=upper,
        exponent=rng.uniform(1.7, 2.2),
        nipple_cc=nipple_cc,
        nipple_mlo=rng.uniform(0.55, 0.66),
        axilla=rng.uniform(0.45, 0.65),
        fold=rng.uniform(0.88, 0.98),
        pect_width=rng.uniform(0.25, 0.4),
        pect_height=rng.uniform(0.4, 0.65),
        pect_curve=rng.uniform(0.75, 1.1),
        wobble=tuple((rng.uniform(0.0, 0.04) / k, rng.uniform(0, 2 * np.pi)) for k in range(2, 6)),
        thickness_mm=rng.uniform(35.0, 70.0),
    )


def sample_pose(rng: np.random.Generator) -> Pose:
    """Per-breast positioning: about 1.5 % scale and 2 mm shift, so the mirrored outlines nearly match."""
    return Pose(rng.uniform(0.985, 1.015), rng.uniform(0.985, 1.015), rng.uniform(-2.0, 2.0))


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - np.float32(lo)) * np.float32(1.0 / (hi - lo)), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def breast_geometry(
    anatomy: Anatomy, view: str, shape: tuple[int, int], spacing_mm: float, pose: Pose
) -> BreastGeometry:
    """Rasterise the outline of one view: a super-ellipse against the chest wall (CC), or one with a
    long axillary tail reaching the top edge plus a pectoral triangle (MLO)."""
    h, w = shape
    field_h = h * spacing_mm
    y = ((np.arange(h) + 0.5) * spacing_mm - field_h / 2) / pose.scale_y + field_h / 2 - pose.shift_y_mm
    x = ((np.arange(w) + 0.5) * spacing_mm / pose.scale_x).astype(np.float32)
    p = anatomy.exponent
    if view == "CC":
        depth = anatomy.depth_mm
        yn = anatomy.nipple_cc * field_h
        a_up, a_lo = anatomy.height_mm * anatomy.upper_share, anatomy.height_mm * (1 - anatomy.upper_share)
        p_up = p
    else:
        depth = min(anatomy.depth_mm * 1.08, 0.9 * w * spacing_mm)
        yn = anatomy.nipple_mlo * field_h
        p_up = 1.3
        a_up = yn / (1.0 - anatomy.axilla**p_up) ** (1.0 / p_up)
        a_lo = anatomy.fold * field_h - yn
    above = y < yn
    s = np.where(above, (yn - y) / a_up, (y - yn) / a_lo)
    expo = np.where(above, p_up, p)
    edge = depth * np.clip(1.0 - np.clip(s, 0, 1) ** expo, 0.0, 1.0) ** (1.0 / expo)
    angle = np.where(above, -s, s) * (np.pi / 2)
    edge *= 1.0 + sum(a * np.cos(k * angle + phi) for k, (a, phi) in enumerate(anatomy.wobble, start=2))
    # distance to the outline: horizontal gap times the cosine of the outline's slope (exact for a
    # locally straight outline, which it is within the 15 mm that matter); the chest wall is no skin
    cosine = (1.0 / np.sqrt(1.0 + np.gradient(edge, y) ** 2)).astype(np.float32)
    gap = edge.astype(np.float32)[:, None] - x[None, :]
    mask = gap > 0
    skin = np.maximum(gap * cosine[:, None], 0.0)
    if view == "CC":
        pect_edge = np.zeros(h, dtype=np.float32)
    else:
        ph = anatomy.pect_height * field_h
        pect_edge = anatomy.pect_width * depth * np.clip(1.0 - y / ph, 0.0, 1.0) ** anatomy.pect_curve
        pect_edge = pect_edge.astype(np.float32)
    chest = x[None, :] - pect_edge[:, None]
    pectoral = mask & (chest < 0)
    envelope = _smoothstep(skin, *_SUBCUTANEOUS_MM) * (0.4 + 0.6 * _smoothstep(chest, 0.0, 0.15 * depth))
    envelope[~mask | pectoral] = 0.0
    nipple_row = float(np.clip((yn - field_h / 2 + pose.shift_y_mm) * pose.scale_y + field_h / 2, 0, field_h) / spacing_mm)
    nipple = (nipple_row, float(edge[int(np.clip(nipple_row, 0, h - 1))] * pose.scale_x / spacing_mm))
    return BreastGeometry(mask, pectoral, skin, envelope, chest, nipple)


def gland_fraction(geometry: BreastGeometry, anatomy: Anatomy, texture: np.ndarray, strands: np.ndarray) -> np.ndarray:
    """Glandular fraction in [0, 1]: the unit-variance power-law `texture` mapped smoothly (graded, not
    binary) through a logistic curve whose offset is set by the BI-RADS density, confined to the glandular
    envelope, plus ducts and ligament strands converging on the nipple."""
    level = (texture - _DENSITY_THRESHOLD[anatomy.density]) / np.float32(_GRADING)
    gland = geometry.envelope / (1.0 + np.exp(-level))
    tissue = geometry.mask & ~geometry.pectoral
    gland += np.float32(_STRANDS) * strands * (1.0 - gland) * tissue
    return gland.astype(np.float32)


def expose(
    geometry: BreastGeometry, gland: np.ndarray, texture: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Form the presentation image: tissue brightness thinned towards the skin, a skin line, the
    pectoral muscle, a dark background and quantum noise. Returns float32 in [0, 1]."""
    f32 = np.float32
    inner = f32(1.0) - np.clip(geometry.skin_mm * f32(1.0 / _ROLL_OFF_MM), 0.0, 1.0)
    thick = np.sqrt(f32(1.0) - inner * inner)
    tissue = np.where(geometry.pectoral, f32(MUSCLE) + f32(0.05) * texture, f32(FAT) + f32(GLAND) * gland)
    rim = np.clip(f32(1.0) - geometry.skin_mm * f32(1.0 / _SKIN_MM), 0.0, 1.0)
    image = np.where(geometry.mask, thick * tissue + f32(SKIN) * rim * rim, f32(BACKGROUND))
    image += (rng.random(image.shape, dtype=np.float32) - f32(0.5)) * f32(_NOISE * np.sqrt(12.0))  # uniform: cheap
    return np.clip(image, 0.0, 1.0, out=image)


def lesion_site(
    geometry: BreastGeometry, depth_frac: float, across_frac: float, margin_mm: float
) -> tuple[float, float]:
    """Where a lesion at the given relative depth (0 chest wall, 1 nipple) and relative height
    (-1 top, 1 bottom of the breast) lies, pulled towards the breast centre until it is at least
    `margin_mm` from the skin and outside the pectoral muscle. Returns (row, col) in pixels."""
    rows = np.flatnonzero(geometry.mask.any(axis=1))
    top, bottom = rows[0], rows[-1]
    centre = 0.5 * (top + bottom)
    for shrink in np.linspace(1.0, 0.0, 11):
        row = int(round(centre + across_frac * shrink * 0.5 * (bottom - top)))
        inside = np.flatnonzero(geometry.mask[row] & ~geometry.pectoral[row])
        if inside.size == 0:
            continue
        col = int(round(inside[0] + (depth_frac * shrink + 0.5 * (1 - shrink)) * (inside[-1] - inside[0])))
        if geometry.skin_mm[row, col] >= margin_mm and geometry.chest_mm[row, col] >= margin_mm:
            return float(row), float(col)
    row, col = np.unravel_index(int(np.argmax(geometry.skin_mm * (geometry.chest_mm > 0))), geometry.mask.shape)
    return float(row), float(col)
