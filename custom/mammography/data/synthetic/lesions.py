"""Mammographic findings: their clinical labels and how they change the glandular-fraction map.

Lesions are drawn in glandular-fraction units, before exposure, so they are thinned at the skin and
masked by dense tissue exactly like parenchyma. A mass replaces the tissue along the beam by denser tissue
(``density`` 1.05-1.4 times fibroglandular tissue): the share it replaces grows with the square root of its
size over the compressed thickness, times ``_GAIN``, at most all of it. Masses are 5-30 mm, with sharp,
obscured or (spiculated) ill-defined margins; calcifications are clusters of 0.2-0.6 mm specks whose
integrated signal is kept at any pixel spacing, so they fade when a preset downsamples as on a real image.

``_GAIN`` is the one conspicuity setting. It was calibrated against real-data figures that favour no
method (bilateral subtraction on real film pairs, and the separability of real lesion patches), with no
method's result looked at: ``docs/benchmark_calibration.md`` has the figures of the frozen version.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

Box = tuple[float, float, float, float]  # (y0, x0, y1, x1), half-open, pixels

KINDS = ("circumscribed", "spiculated", "calcification", "distortion")
# masses 64 %, calcifications 29 %, distortions 7 %: roughly the proportions of these kinds among the finding
# annotations of VinDr-Mammo (Nguyen et al., Sci Data 2023; recalled from its data descriptor, not re-counted)
_KIND_WEIGHTS = (0.38, 0.26, 0.29, 0.07)
# BI-RADS follows morphology; P(malignant) follows BI-RADS within a morphology
_BIRADS = {
    "circumscribed": ((3, 4), (0.55, 0.45)),
    "spiculated": ((4, 5), (0.35, 0.65)),
    "calcification": ((3, 4, 5), (0.30, 0.45, 0.25)),
    "distortion": ((4,), (1.0,)),
}
_P_MALIGNANT = {
    ("circumscribed", 3): 0.03, ("circumscribed", 4): 0.25,
    ("spiculated", 4): 0.6, ("spiculated", 5): 0.92,
    ("calcification", 3): 0.05, ("calcification", 4): 0.35, ("calcification", 5): 0.85,
    ("distortion", 4): 0.5,
}
_SIZE_MM = {
    "circumscribed": (5.0, 30.0), "spiculated": (6.0, 30.0), "calcification": (5.0, 15.0), "distortion": (10.0, 25.0),
}
_OBSCURED = 0.4  # share of non-spiculated masses whose margin is obscured or indistinct rather than sharp
_MARGIN_BLUR = (0.08, 0.2)  # blur of an indistinct margin, as a fraction of the mass diameter
_CATEGORY = {
    "circumscribed": ("Mass",),
    "spiculated": ("Mass",),
    "calcification": ("Suspicious Calcification",),
    "distortion": ("Architectural Distortion",),
}
_SPECK_MM = (0.2, 0.6)
_GAIN = 2.4  # lesion contrast at a size equal to the compressed thickness (see _contrast and the module doc)
_SPECK_BRIGHTNESS = (0.5, 1.1)  # glandular-fraction units at full resolution


@dataclass(frozen=True)
class Finding:
    """One lesion: labels as a reader records them, plus the seed of its shape (shared by both views)."""

    kind: str
    categories: tuple[str, ...]
    birads: int
    pathology: str  # "malignant" or "benign"
    size_mm: float  # mass diameter, cluster diameter or distortion diameter
    density: float  # mass density relative to glandular tissue (> 1: denser than fibroglandular tissue)
    margin_mm: float  # blur of the mass margin: 0 for a sharp (circumscribed) one
    with_calcifications: bool
    seed: int


def sample_finding(rng: np.random.Generator) -> Finding:
    """Draw a finding with morphology-consistent BI-RADS and pathology."""
    kind = str(rng.choice(KINDS, p=_KIND_WEIGHTS))
    values, probs = _BIRADS[kind]
    birads = int(rng.choice(values, p=probs))
    malignant = rng.random() < _P_MALIGNANT[(kind, birads)]
    with_calcs = kind == "spiculated" and rng.random() < 0.25
    categories = _CATEGORY[kind] + (("Suspicious Calcification",) if with_calcs else ())
    lo, hi = _SIZE_MM[kind]
    size_mm = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return Finding(
        kind=kind,
        categories=categories,
        birads=birads,
        pathology="malignant" if malignant else "benign",
        size_mm=size_mm,
        density=rng.uniform(1.05, 1.4),
        margin_mm=_margin_blur(kind, size_mm, rng),
        with_calcifications=with_calcs,
        seed=int(rng.integers(2**31)),
    )


def _contrast(size_mm: float, thickness_mm: float) -> np.float32:
    """How far a lesion replaces the tissue along the beam: ``_GAIN * sqrt(size / thickness)``, at most 1."""
    return np.float32(min(1.0, _GAIN * np.sqrt(size_mm / thickness_mm)))


def _margin_blur(kind: str, size_mm: float, rng: np.random.Generator) -> float:
    """Margin blur in mm: spiculated masses are ill-defined around their core, other masses are sharp
    (circumscribed) or obscured/indistinct; calcifications and distortions have no mass margin."""
    if kind == "spiculated" or (kind == "circumscribed" and rng.random() < _OBSCURED):
        return float(rng.uniform(*_MARGIN_BLUR) * size_mm)
    return 0.0


def _window(shape: tuple[int, int], centre: tuple[float, float], radius: float):
    """Slices of the image around `centre` and the pixel offsets from it (clipped to the image)."""
    cy, cx = centre
    r = int(np.ceil(radius)) + 1
    y0, y1 = max(int(cy) - r, 0), min(int(cy) + r + 1, shape[0])
    x0, x1 = max(int(cx) - r, 0), min(int(cx) + r + 1, shape[1])
    yy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
    xx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx)
    return (slice(y0, y1), slice(x0, x1)), yy, xx


def _blob(rho: np.ndarray, theta: np.ndarray, radius: float, rng: np.random.Generator, lobes: int, lumpiness: float):
    """Projected thickness (max 1) of a lumpy sphere: its radius varies with a few angular harmonics."""
    ks = np.arange(2, 2 + lobes)
    amp = rng.uniform(0.0, lumpiness, lobes) / np.sqrt(ks - 1)
    phase = rng.uniform(0.0, 2 * np.pi, lobes)
    harmonics = amp[:, None, None] * np.cos(ks[:, None, None] * theta + phase[:, None, None])
    edge = radius * (1.0 + harmonics.sum(axis=0))
    return np.sqrt(np.clip(1.0 - (rho / edge) ** 2, 0.0, 1.0))


def _spicules(
    yy, xx, rotation: float, rng: np.random.Generator, start: float, length: float, spacing_mm: float, count: int
):
    """Thin tapering lines radiating from `start` px out to about `start + length` px (max over lines)."""
    angles = rng.uniform(0.0, 2 * np.pi, count) + rotation
    lengths = length * rng.uniform(0.6, 1.2, count)
    widths = rng.uniform(0.25, 0.6, count) / spacing_mm
    strengths = rng.uniform(0.35, 0.7, count)
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    along = xx * cos + yy * sin
    across = -xx * sin + yy * cos
    taper = np.clip(1.0 - (along - start) / lengths[:, None, None], 0.0, 1.0) * (along > 0)
    sigma = np.maximum(widths[:, None, None] * (0.3 + 0.7 * taper), 0.5)
    lines = strengths[:, None, None] * taper * np.exp(-0.5 * (across / sigma) ** 2)
    return lines.max(axis=0)


def _specks(yy, xx, centres: np.ndarray, diameters_mm: np.ndarray, brightness: np.ndarray, spacing_mm: float):
    """Calcifications as Gaussians that keep each speck's integrated signal at any pixel spacing, so a
    0.3 mm speck on 0.5 mm pixels is one faint pixel rather than a bright one."""
    sigma = np.maximum(diameters_mm / (2.355 * spacing_mm), 0.45)
    peak = brightness * np.minimum(1.0, (np.pi * diameters_mm**2 / 4) / (2 * np.pi * (sigma * spacing_mm) ** 2))
    dy = yy[None] - centres[:, 0, None, None]
    dx = xx[None] - centres[:, 1, None, None]
    s2 = (sigma**2)[:, None, None]
    return np.sum(peak[:, None, None] * np.exp(-(dy * dy + dx * dx) / (2 * s2)), axis=0)


def _cluster(rng: np.random.Generator, count: int, radius_px: float, rotation: float, elongation: float):
    """Speck positions (px, relative to the centre) inside a rotated ellipse."""
    r = radius_px * np.sqrt(rng.uniform(0.0, 1.0, count))
    a = rng.uniform(0.0, 2 * np.pi, count)
    y, x = r * np.sin(a) / elongation, r * np.cos(a)
    c, s = np.cos(rotation), np.sin(rotation)
    return np.stack([x * s + y * c, x * c - y * s], axis=1)


def _box_of(sl: tuple[slice, slice], region: np.ndarray) -> Box:
    """Bounding box of `region` (a boolean map over the window `sl`) in image pixels."""
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    y0, x0 = sl[0].start, sl[1].start
    return float(y0 + rows[0]), float(x0 + cols[0]), float(y0 + rows[-1] + 1), float(x0 + cols[-1] + 1)


def add_finding(
    gland: np.ndarray,
    finding: Finding,
    centre: tuple[float, float],
    spacing_mm: float,
    thickness_mm: float,
    rotation: float,
) -> Box:
    """Draw `finding` into the glandular-fraction map `gland` (in place) and return its bounding box.

    `rotation` (radians) turns the same lesion for the other view; the shape comes from the finding's seed.
    """
    rng = np.random.default_rng(finding.seed)
    radius = 0.5 * finding.size_mm / spacing_mm
    if finding.kind == "calcification":
        return _add_calcifications(gland, finding, centre, spacing_mm, rotation, rng, radius)
    if finding.kind == "distortion":
        return _add_distortion(gland, finding, centre, spacing_mm, thickness_mm, rotation, rng, radius)
    spiculated = finding.kind == "spiculated"
    core = radius * (0.6 if spiculated else 1.0)
    reach = core * 1.3 + (2.5 * core if spiculated else 0.0) + 2.0 * finding.margin_mm / spacing_mm
    sl, yy, xx = _window(gland.shape, centre, reach)
    rho, theta = np.hypot(yy, xx), np.arctan2(yy, xx) + rotation
    shape = _blob(rho, theta, core, rng, lobes=6 if spiculated else 4, lumpiness=0.15 if spiculated else 0.12)
    if finding.margin_mm > 0:
        shape = ndimage.gaussian_filter(shape, finding.margin_mm / spacing_mm, mode="constant")
    if spiculated:
        lines = _spicules(yy, xx, rotation, rng, 0.8 * core, 2.2 * core, spacing_mm, int(rng.integers(12, 28)))
        shape = np.maximum(shape, lines)
    local = gland[sl]
    tissue = local > 0  # glandular fraction is positive inside the breast, except the outer 3 mm
    gain = _contrast(finding.size_mm, thickness_mm)
    local += gain * shape * (np.float32(finding.density) - local)
    if finding.with_calcifications:
        n = int(rng.integers(5, 13))
        local += _specks(yy, xx, _cluster(rng, n, 0.8 * core, rotation, 1.0),
                         rng.uniform(*_SPECK_MM, n), rng.uniform(*_SPECK_BRIGHTNESS, n), spacing_mm)
    return _box_of(sl, (shape > 0.2) & tissue)


def _add_calcifications(gland, finding: Finding, centre, spacing_mm: float, rotation: float, rng, radius: float) -> Box:
    """A cluster of specks; suspicious ones (BI-RADS 4-5) are more numerous, elongated and pleomorphic."""
    suspicious = finding.birads >= 4
    n = int(rng.integers(8, 30) if suspicious else rng.integers(5, 15))
    elongation = rng.uniform(1.5, 3.0) if suspicious else rng.uniform(1.0, 1.4)
    centres = _cluster(rng, n, radius, rotation, elongation)
    diameters = rng.uniform(*_SPECK_MM, n) if suspicious else np.full(n, rng.uniform(*_SPECK_MM))
    sl, yy, xx = _window(gland.shape, centre, radius + 4)
    gland[sl] += _specks(yy, xx, centres, diameters, rng.uniform(*_SPECK_BRIGHTNESS, n), spacing_mm)
    cy, cx = centre
    pad = 0.5 * diameters.max() / spacing_mm + 1.0
    y0, x0 = max(cy + centres[:, 0].min() - pad, 0.0), max(cx + centres[:, 1].min() - pad, 0.0)
    y1, x1 = min(cy + centres[:, 0].max() + pad, gland.shape[0]), min(cx + centres[:, 1].max() + pad, gland.shape[1])
    return float(np.floor(y0)), float(np.floor(x0)), float(np.ceil(y1)), float(np.ceil(x1))


def _add_distortion(
    gland, finding: Finding, centre, spacing_mm: float, thickness_mm: float, rotation: float, rng, radius: float
) -> Box:
    """Tissue pulled towards a point with faint radiating strands and no central mass."""
    sl, yy, xx = _window(gland.shape, centre, 1.6 * radius)
    local = gland[sl]
    pull = rng.uniform(0.35, 0.6) * np.exp(-(yy * yy + xx * xx) / (2 * (0.6 * radius) ** 2))
    src_y = np.float32(centre[0] - sl[0].start) + yy * (1.0 + pull)
    src_x = np.float32(centre[1] - sl[1].start) + xx * (1.0 + pull)
    local[...] = ndimage.map_coordinates(local, [src_y, src_x], order=1, mode="nearest")
    lines = _spicules(yy, xx, rotation, rng, 0.0, radius, spacing_mm, int(rng.integers(8, 16)))
    local += _contrast(finding.size_mm, thickness_mm) * lines * (np.float32(finding.density) - local)
    cy, cx = centre
    r = 0.75 * radius
    return (float(np.floor(max(cy - r, 0))), float(np.floor(max(cx - r, 0))),
            float(np.ceil(min(cy + r + 1, gland.shape[0]))), float(np.ceil(min(cx + r + 1, gland.shape[1]))))
