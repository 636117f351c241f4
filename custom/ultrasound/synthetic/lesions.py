"""Breast lesions as BI-RADS ultrasound describes them, in the proportions real series report.

A lesion is planned first (:func:`plan_lesion`: kind, shape, margin, orientation, size in mm, echogenicity,
posterior feature), then drawn on the pixel grid (:func:`lesion_outline`: its radius around the centre;
:func:`lesion_region`: how much of each pixel is lesion, soft across an indistinct margin) and given its tissue
properties (:func:`lesion_reflectivity`, :func:`lesion_attenuation`).

The shares are those of real series, chosen before any network was trained on the images
(``docs/benchmark_calibration_us.md`` cites each):

- margins (BI-RADS: circumscribed, indistinct, angular, microlobulated, spiculated) and shapes after Hong et al.,
  AJR 2005: malignant masses about 14% spiculated and 72% irregular, benign solid masses 61% circumscribed and
  76% oval;
- orientation: 53% of malignant and 13% of benign solid masses are not parallel to the skin (taller than wide);
- posterior features vary within each class: many cancers show none or enhancement, fibroadenomas usually none,
  cysts enhance;
- echogenicity is a continuous spread relative to the tissue around the lesion, from anechoic (cysts) through
  markedly hypoechoic to nearly isoechoic (a few dB), and some lesions lie in fat, itself hypoechoic;
- widths are lognormal with BUSI-like medians (malignant about 20 mm, benign about 15 mm).

The posterior feature is not painted: it is the lesion's attenuation, chosen so that the echoes behind it gain
or lose ``posterior_db`` on their way through it and back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from scipy import ndimage

from custom.ultrasound.synthetic.shapes import box_around, ellipse_radius, perturbed_radius, smooth_field, star_mask

KIND_SHARES = {"benign": {"cyst": 0.25, "solid benign": 0.75}, "malignant": {"malignant": 1.0}}
SHAPE_SHARES = {
    "cyst": {"oval": 0.8, "round": 0.2},
    "solid benign": {"oval": 0.76, "round": 0.1, "irregular": 0.14},
    "malignant": {"irregular": 0.72, "oval": 0.18, "round": 0.1},
}
MARGIN_SHARES = {
    "cyst": {"circumscribed": 0.9, "indistinct": 0.05, "microlobulated": 0.05},
    "solid benign": {"circumscribed": 0.62, "indistinct": 0.2, "microlobulated": 0.1, "angular": 0.05,
                     "spiculated": 0.03},
    "malignant": {"circumscribed": 0.07, "indistinct": 0.38, "angular": 0.17, "microlobulated": 0.23,
                  "spiculated": 0.15},
}
POSTERIOR_SHARES = {
    "cyst": {"enhancement": 0.95, "none": 0.05},
    "solid benign": {"none": 0.65, "enhancement": 0.25, "shadowing": 0.1},
    "malignant": {"shadowing": 0.43, "none": 0.4, "enhancement": 0.17},
}
NOT_PARALLEL = {"cyst": 0.03, "solid benign": 0.15, "malignant": 0.58}  # taller than wide
IN_FAT = {"cyst": 0.1, "solid benign": 0.15, "malignant": 0.15}  # surrounded by fat rather than gland
HALO = {"malignant": 0.3}  # echogenic halo around the mass
WIDTH_MEDIAN_MM = {"cyst": 13.0, "solid benign": 17.0, "malignant": 22.0}
WIDTH_SPREAD = 0.38  # std of log width
WIDTH_RANGE_MM = (5.0, 45.0)
CONTRAST_DB = {"cyst": (-30.0, -18.0), "solid benign": (-20.0, -2.0), "malignant": (-22.0, -3.0)}
HETEROGENEITY = {"cyst": (0.0, 0.1), "solid benign": (0.15, 0.35), "malignant": (0.3, 0.7)}
COMPLICATED_CYST = (0.3, (-18.0, -10.0), (0.3, 0.5))  # share of cysts with low-level internal echoes, dB, spread
POSTERIOR_DB = {"enhancement": (3.0, 9.0), "shadowing": (-20.0, -6.0), "none": (0.0, 0.0)}
CYST_ENHANCEMENT_DB = (5.0, 12.0)  # fluid attenuates next to nothing: cysts enhance more than solid masses
TRANSITION_MM = {  # width of the change from tissue to lesion across the margin
    "circumscribed": (0.1, 0.3), "microlobulated": (0.2, 0.4), "angular": (0.2, 0.4), "spiculated": (0.3, 0.6),
    "indistinct": (1.2, 3.0),
}
MIN_ATTENUATION = 0.02  # dB/(cm MHz): fluid


@dataclass(frozen=True)
class LesionPlan:
    """One lesion drawn before rendering: what kind, how it looks, how large (mm) and where (pixels)."""

    kind: str  # "cyst", "solid benign" or "malignant"
    shape: str  # "oval", "round" or "irregular"
    margin: str  # a key of MARGIN_SHARES' inner dicts
    parallel: bool  # wider than tall (long axis parallel to the skin)
    posterior: str  # "enhancement", "shadowing" or "none"
    posterior_db: float  # echo gain (> 0) or loss (< 0) behind the lesion, two-way
    contrast_db: float  # echo level against the tissue around it (< 0: hypoechoic)
    heterogeneity: float  # std of the log backscatter inside
    in_fat: bool  # surrounded by fat rather than glandular tissue
    halo_mm: float  # width of an echogenic rim (0: none)
    transition_mm: float  # width of the margin's change from tissue to lesion
    size_mm: tuple[float, float]  # height, width before the margin's irregularity
    tilt: float  # radians, the long axis against the skin
    center: tuple[float, float] = (0.0, 0.0)  # row, col in pixels

    def at(self, center: tuple[float, float]) -> LesionPlan:
        return replace(self, center=(float(center[0]), float(center[1])))

    def scaled(self, factor: float) -> LesionPlan:
        return replace(self, size_mm=(self.size_mm[0] * factor, self.size_mm[1] * factor))


def _pick(rng: np.random.Generator, shares: dict[str, float]) -> str:
    names = list(shares)
    return names[int(rng.choice(len(names), p=np.array(list(shares.values())) / sum(shares.values())))]


def plan_lesion(rng: np.random.Generator, pathology: str, scale: float = 1.0) -> LesionPlan:
    """A benign or malignant lesion, not yet placed; ``scale`` shrinks it (a second lesion, a crowded image)."""
    kind = _pick(rng, KIND_SHARES[pathology])
    shape, margin = _pick(rng, SHAPE_SHARES[kind]), _pick(rng, MARGIN_SHARES[kind])
    parallel = bool(rng.random() >= NOT_PARALLEL[kind])
    width = float(np.clip(WIDTH_MEDIAN_MM[kind] * np.exp(WIDTH_SPREAD * rng.standard_normal()), *WIDTH_RANGE_MM))
    if shape == "round":
        aspect = rng.uniform(0.88, 0.98) if parallel else rng.uniform(1.04, 1.12)
    else:
        aspect = rng.uniform(0.45, 0.88) if parallel else rng.uniform(1.12, 1.6)
    posterior = _pick(rng, POSTERIOR_SHARES[kind])
    halo = rng.uniform(1.0, 2.5) if rng.random() < HALO.get(kind, 0.0) else 0.0
    complicated = COMPLICATED_CYST if kind == "cyst" and rng.random() < COMPLICATED_CYST[0] else None
    return LesionPlan(
        kind=kind, shape=shape, margin=margin, parallel=parallel, posterior=posterior,
        posterior_db=float(rng.uniform(*(CYST_ENHANCEMENT_DB if kind == "cyst" and posterior == "enhancement"
                                         else POSTERIOR_DB[posterior]))),
        contrast_db=float(rng.uniform(*(complicated[1] if complicated else CONTRAST_DB[kind]))),
        heterogeneity=float(rng.uniform(*(complicated[2] if complicated else HETEROGENEITY[kind]))),
        in_fat=bool(rng.random() < IN_FAT[kind]),
        halo_mm=float(halo), transition_mm=float(rng.uniform(*TRANSITION_MM[margin])),
        size_mm=(float(width * aspect * scale), float(width * scale)), tilt=float(rng.uniform(-0.25, 0.25)))


def lesion_outline(rng: np.random.Generator, plan: LesionPlan, pixel_mm: float) -> Callable[[np.ndarray], np.ndarray]:
    """The lesion's radius (pixels) as a function of the polar angle around its centre: an ellipse made
    irregular by the shape, lobulated, angular or spiculated by the margin."""
    ellipse = ellipse_radius((plan.size_mm[0] / 2 / pixel_mm, plan.size_mm[1] / 2 / pixel_mm), plan.tilt)
    low = 0.15 if plan.shape == "irregular" else 0.03
    lobes = 0.06 if plan.margin == "microlobulated" else 0.0
    smooth = perturbed_radius(rng, ellipse, {**{k: low for k in range(2, 6)}, **{k: lobes for k in range(8, 15)}})
    bumps = []  # (direction, half width, relative height) of angular corners and spicules
    if plan.margin == "angular":
        bumps = [(rng.uniform(-np.pi, np.pi), rng.uniform(0.35, 0.6), rng.uniform(0.12, 0.25))
                 for _ in range(int(rng.integers(3, 7)))]
    elif plan.margin == "spiculated":
        bumps = [(rng.uniform(-np.pi, np.pi), rng.uniform(0.03, 0.07), rng.uniform(0.3, 0.8))
                 for _ in range(int(rng.integers(6, 15)))]
    sharpness = 2 if plan.margin == "spiculated" else 1

    def radius(angle: np.ndarray) -> np.ndarray:
        extra = sum(height * np.clip(1 - np.abs(np.angle(np.exp(1j * (angle - direction)))) / half, 0, 1) ** sharpness
                    for direction, half, height in bumps)
        return smooth(angle) + ellipse(angle) * extra

    return radius


def outline_reach(radius: Callable[[np.ndarray], np.ndarray]) -> float:
    """The largest radius of an outline (pixels)."""
    return float(radius(np.linspace(-np.pi, np.pi, 1441)).max())


@dataclass(frozen=True)
class LesionRegion:
    """Where the lesion is: ``weight`` (0-1, the lesion's share of each pixel, soft across the margin) and its
    exact region ``mask`` (weight at least one half), both on a box of the image; ``distance``: signed distance
    (pixels, > 0 outside) from the margin, for the tissue around it."""

    box: tuple[slice, slice]
    weight: np.ndarray
    mask: np.ndarray
    distance: np.ndarray

    def full(self, array: np.ndarray, shape: tuple[int, int], fill=0) -> np.ndarray:
        out = np.full(shape, fill, dtype=array.dtype)
        out[self.box] = array
        return out


def lesion_region(rng: np.random.Generator, plan: LesionPlan, radius: Callable[[np.ndarray], np.ndarray],
                  shape: tuple[int, int], pixel_mm: float, margin_mm: float = 6.0) -> LesionRegion:
    """The lesion's region on a box reaching ``margin_mm`` beyond it. An indistinct margin's change is spread
    over ``plan.transition_mm`` and made ragged by noise, so that no sharp edge marks where it ends."""
    box = box_around(shape, plan.center, outline_reach(radius) + margin_mm / pixel_mm + 2)
    local = (box[0].stop - box[0].start, box[1].stop - box[1].start)
    center = (plan.center[0] - box[0].start, plan.center[1] - box[1].start)
    inside = star_mask(local, center, radius)
    distance = ndimage.distance_transform_edt(~inside) - ndimage.distance_transform_edt(inside)
    width = max(plan.transition_mm / pixel_mm, 1.0)
    if plan.margin == "indistinct":
        distance = distance + 0.5 * width * smooth_field(rng, local, max(0.6 / pixel_mm, 1.0))
    weight = np.clip(0.5 - distance / width, 0.0, 1.0).astype(np.float32)
    return LesionRegion(box, weight, weight >= 0.5, distance)


def lesion_reflectivity(rng: np.random.Generator, plan: LesionPlan, surroundings: float,
                        shape: tuple[int, int], pixel_mm: float) -> np.ndarray:
    """Backscatter inside the lesion (on ``shape``, the lesion's box): ``plan.contrast_db`` against the mean
    backscatter of the tissue around it, heterogeneous by ``plan.heterogeneity`` at a millimetre scale."""
    spread = plan.heterogeneity
    texture = np.exp(spread * smooth_field(rng, shape, max(0.8 / pixel_mm, 1.0)) - spread ** 2 / 2)
    return surroundings * 10 ** (plan.contrast_db / 10) * texture


def lesion_attenuation(plan: LesionPlan, mask: np.ndarray, background: float, frequency_mhz: float,
                       pixel_mm: float) -> float:
    """Attenuation (dB/(cm MHz)) that gives ``plan.posterior_db`` behind the lesion's thickest column."""
    thickness_cm = mask.sum(axis=0).max() * pixel_mm / 10
    return max(background - plan.posterior_db / (2 * frequency_mhz * thickness_cm), MIN_ATTENUATION)
