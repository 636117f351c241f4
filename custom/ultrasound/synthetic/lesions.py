"""Breast lesions as BI-RADS ultrasound describes them: shape, margin, echo pattern and posterior features.

Benign-like lesions are oval or round and circumscribed (cysts anechoic, solid ones hypoechoic) and
attenuate less than the tissue, which shows as posterior acoustic enhancement; malignant-like ones are
irregular, microlobulated or spiculated, often taller than wide, heterogeneous, and attenuate more, which
shows as posterior shadowing. The posterior feature is not painted: it is the lesion's attenuation, chosen
so that the echoes behind it gain or lose ``posterior_db`` on their way through it and back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from custom.ultrasound.synthetic.shapes import ellipse_radius, perturbed_radius, smooth_field, star_mask

MARGINS = {  # margin -> (low-order irregularity, high-order lobulation, number of spicules)
    "circumscribed": (0.03, 0.0, (0, 0)),
    "microlobulated": (0.05, 0.06, (0, 0)),
    "irregular": (0.18, 0.03, (0, 0)),
    "spiculated": (0.08, 0.02, (6, 14)),
}
KINDS = {  # pathology -> (kind, probability)
    "benign": (("cyst", 0.4), ("solid benign", 0.6)),
    "malignant": (("malignant", 1.0),),
}
MIN_ATTENUATION = 0.02  # dB/(cm MHz): fluid


@dataclass(frozen=True)
class LesionPlan:
    """One lesion drawn before rendering: where, how large (mm), what kind, margin and posterior feature."""

    kind: str
    margin: str
    posterior: str  # "enhancement", "shadowing" or "none"
    posterior_db: float  # echo gain (> 0) or loss (< 0) behind the lesion, two-way
    center: tuple[float, float]  # row, col in pixels
    semi_axes_mm: tuple[float, float]  # vertical, horizontal


def plan_lesion(rng: np.random.Generator, pathology: str, center: tuple[float, float],
                scale: float = 1.0) -> LesionPlan:
    """A benign or malignant lesion centred at ``center``; ``scale`` shrinks a second lesion."""
    kind = str(rng.choice([name for name, _ in KINDS[pathology]], p=[share for _, share in KINDS[pathology]]))
    width = rng.uniform(4.0, 11.0) * scale
    if kind == "malignant":
        margin = str(rng.choice(["irregular", "spiculated", "microlobulated"], p=[0.4, 0.4, 0.2]))
        height = width * rng.uniform(0.8, 1.3)  # often taller than wide
        posterior, posterior_db = ("shadowing", -rng.uniform(10, 20)) if rng.random() < 0.8 else ("none", 0.0)
    else:
        margin = "circumscribed" if rng.random() < 0.85 else "microlobulated"
        height = width * rng.uniform(0.5, 0.9)  # wider than tall, parallel to the skin
        posterior, posterior_db = "enhancement", rng.uniform(5, 9) if kind == "cyst" else rng.uniform(3, 6)
    return LesionPlan(kind, margin, posterior, float(posterior_db), center, (height, width))


def lesion_mask(rng: np.random.Generator, plan: LesionPlan, shape: tuple[int, int], pixel_mm: float) -> np.ndarray:
    """The lesion's exact region on the pixel grid: an ellipse whose radius is perturbed by the margin's
    harmonics and spicules."""
    low, high, (fewest, most) = MARGINS[plan.margin]
    ellipse = ellipse_radius((plan.semi_axes_mm[0] / pixel_mm, plan.semi_axes_mm[1] / pixel_mm), rng.uniform(-0.3, 0.3))
    margin = perturbed_radius(rng, ellipse, {**{k: low for k in range(2, 6)}, **{k: high for k in range(8, 15)}})
    spicules = [(rng.uniform(-np.pi, np.pi), rng.uniform(0.03, 0.07), rng.uniform(0.4, 0.9))
                for _ in range(int(rng.integers(fewest, most + 1)))]

    def radius(angle: np.ndarray) -> np.ndarray:
        spikes = sum(length * np.clip(1 - np.abs(np.angle(np.exp(1j * (angle - direction)))) / half_width, 0, 1) ** 2
                     for direction, half_width, length in spicules)
        return margin(angle) + ellipse(angle) * spikes

    return star_mask(shape, plan.center, radius)


def lesion_reflectivity(rng: np.random.Generator, plan: LesionPlan, shape: tuple[int, int]) -> np.ndarray:
    """Backscatter inside the lesion: anechoic (cyst), homogeneously or heterogeneously hypoechoic."""
    if plan.kind == "cyst":
        return np.full(shape, 0.002)
    if plan.kind == "solid benign":
        return rng.uniform(0.04, 0.08) * np.exp(0.2 * smooth_field(rng, shape, 3))
    return rng.uniform(0.02, 0.05) * np.exp(0.6 * smooth_field(rng, shape, 2))


def lesion_attenuation(plan: LesionPlan, mask: np.ndarray, background: float, frequency_mhz: float,
                       pixel_mm: float) -> float:
    """Attenuation (dB/(cm MHz)) that gives ``plan.posterior_db`` behind the lesion's thickest column."""
    thickness_cm = mask.sum(axis=0).max() * pixel_mm / 10
    return max(background - plan.posterior_db / (2 * frequency_mhz * thickness_cm), MIN_ATTENUATION)
