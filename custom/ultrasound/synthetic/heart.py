"""Apical two- and four-chamber views from a phased-array probe, at end-diastole (ED) and end-systole (ES).

The left ventricle (LV) is a bullet (an ellipse cut at the mitral plane) with the apex up, wrapped in
myocardium open at the base; the left atrium (LA) hangs below the mitral plane. The four-chamber view adds
the right ventricle and atrium on the screen's left, as displayed by convention. Blood is dark (it scatters
little and attenuates little, so the tissue behind a chamber is slightly enhanced), myocardium grey and the
pericardium bright. At ES the cavity is shorter and much narrower, the wall thicker and the atrium fuller.
Labels follow CAMUS: 0 background, 1 LV cavity, 2 LV myocardium, 3 LA; everything else is background.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from custom.ultrasound.synthetic.bmode import (
    Look, Probe, beam_grid, draw_scatterers, field_of_view, form_image, pixel_size_mm,
)
from custom.ultrasound.synthetic.shapes import smooth_field

PROBE = Probe("sector", depth_mm=150.0, frequency_mhz=2.5, angle_deg=75.0, beam_sigma_lines=1.5)
VIEWS = ("2CH", "4CH")
LABELS = {"background": 0, "LV": 1, "myocardium": 2, "LA": 3}
TISSUE_ATTENUATION, BLOOD_ATTENUATION = 0.5, 0.15  # dB/(cm MHz)
ES_SPECKLE_CORRELATION = 0.5  # scatterers kept between the ED and ES frames


@dataclass(frozen=True)
class Heart:
    """One heart in one phase, in mm along the LV long axis (``u`` down from the endocardial apex) and across
    it (``v``): LV half-length ``lv_a`` and half-width ``lv_b`` of the ellipse cut at ``1.75 * lv_a``, wall
    thickness, LA and right-heart semi-axes."""

    lv_a: float
    lv_b: float
    wall: float
    la: tuple[float, float]
    rv: tuple[float, float]
    ra: tuple[float, float]

    @property
    def base(self) -> float:
        return 1.75 * self.lv_a


def plan_heart(rng: np.random.Generator) -> tuple[Heart, Heart]:
    """ED and ES geometry of one patient: the cavity shortens by 8-15% and narrows by 22-32% in systole,
    the wall thickens by 30-50%, the atria fill."""
    ed = Heart(lv_a=rng.uniform(36, 45), lv_b=rng.uniform(18, 24), wall=rng.uniform(8, 11),
               la=(rng.uniform(17, 23), rng.uniform(15, 20)), rv=(rng.uniform(28, 36), rng.uniform(12, 16)),
               ra=(rng.uniform(15, 20), rng.uniform(13, 17)))
    atria = rng.uniform(1.1, 1.2)
    es = replace(ed, lv_a=ed.lv_a * rng.uniform(0.85, 0.92), lv_b=ed.lv_b * rng.uniform(0.68, 0.78),
                 wall=ed.wall * rng.uniform(1.3, 1.5), la=(ed.la[0] * atria, ed.la[1] * atria),
                 rv=(ed.rv[0] * 0.9, ed.rv[1] * 0.8), ra=(ed.ra[0] * atria, ed.ra[1] * atria))
    return ed, es


def heart_view(rng: np.random.Generator, shape: tuple[int, int], view: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"ED": (image, labels), "ES": (image, labels)}`` of one apical view: uint8 grey images and uint8
    CAMUS label maps, both on the ``shape`` pixel grid (rows = depth)."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    pixel = pixel_size_mm(PROBE, shape)
    grid = beam_grid(PROBE, shape)
    inside = field_of_view(grid)
    ed, es = plan_heart(rng)
    offset = rng.uniform(6, 12) if view == "4CH" else rng.uniform(-4, 4)  # LV centre right of the midline, mm
    placement = (rng.uniform(15, 25), offset, np.deg2rad(rng.uniform(-8, 8)))  # apex depth, offset, tilt
    texture = smooth_field(rng, shape, 2.0 / pixel), smooth_field(rng, shape, 1.0 / pixel)
    look = Look(dynamic_range_db=rng.uniform(50, 60), level_db=rng.uniform(24, 30),
                tgc_attenuation=TISSUE_ATTENUATION * rng.uniform(0.9, 1.05))
    scatterers = draw_scatterers(rng, grid)
    frames = {}
    for phase, heart in (("ED", ed), ("ES", es)):
        if phase == "ES":
            fresh = draw_scatterers(rng, grid)
            scatterers = ES_SPECKLE_CORRELATION * scatterers + np.sqrt(1 - ES_SPECKLE_CORRELATION ** 2) * fresh
        regions = _regions(heart, shape, pixel, placement, view, phase)
        reflectivity, attenuation = _scene(regions, texture)
        image = form_image(reflectivity, attenuation, PROBE, look, rng, scatterers=scatterers)
        labels = np.zeros(shape, np.uint8)
        for name in ("LV", "myocardium", "LA"):
            labels[regions[name] & inside] = LABELS[name]
        frames[phase] = image, labels
    return frames


def _regions(heart: Heart, shape, pixel, placement, view, phase) -> dict[str, np.ndarray]:
    """Boolean masks of the chambers and walls on the pixel grid."""
    apex_depth, offset, tilt = placement
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    y, x = (rows + 0.5) * pixel - apex_depth, (cols - (shape[1] - 1) / 2) * pixel - offset
    u, v = y * np.cos(tilt) + x * np.sin(tilt), x * np.cos(tilt) - y * np.sin(tilt)

    def ellipse(centre_u, centre_v, a, b):
        return ((u - centre_u) / a) ** 2 + ((v - centre_v) / b) ** 2 < 1

    ventricle, atrial = u < heart.base, u >= heart.base
    lv = ellipse(heart.lv_a, 0, heart.lv_a, heart.lv_b) & ventricle
    outer = ellipse(heart.lv_a, 0, heart.lv_a + heart.wall, heart.lv_b + heart.wall) & ventricle
    la = ellipse(heart.base + 0.8 * heart.la[0], 0, *heart.la) & atrial
    regions = {"LV": lv, "myocardium": outer & ~lv, "LA": la, "RV": np.zeros(shape, bool), "RA": np.zeros(shape, bool)}
    if view == "4CH":
        rv_v = _rv_centre(heart)
        regions["RV"] = ellipse(heart.base - heart.rv[0], rv_v, *heart.rv) & ventricle & ~outer
        regions["RA"] = ellipse(heart.base + 0.8 * heart.ra[0], rv_v - 2, *heart.ra) & atrial & ~la
    blood = regions["LV"] | regions["LA"] | regions["RV"] | regions["RA"]
    walls = ndimage.binary_dilation(blood, iterations=max(1, round(3 / pixel))) & ~blood
    regions["wall"] = (walls & ~regions["myocardium"]) | regions["myocardium"]
    heart_mask = blood | regions["wall"]
    regions["pericardium"] = ndimage.binary_dilation(heart_mask, iterations=max(1, round(2 / pixel))) & ~heart_mask
    regions["valves"] = _valves(u, v, heart, pixel, view, phase)
    return regions


def _valves(u, v, heart: Heart, pixel, view, phase) -> np.ndarray:
    """Mitral (and tricuspid) valve: a thin bright line across the annulus when closed (ES), only the hinges
    when open (ED)."""
    line = np.abs(u - heart.base) < max(0.6, pixel / 2)
    annuli = [(0.0, heart.lv_b * np.sqrt(1 - 0.75 ** 2))]
    if view == "4CH":
        annuli.append((_rv_centre(heart), 0.8 * heart.rv[1]))
    valves = np.zeros(u.shape, bool)
    for centre, half_width in annuli:
        across = np.abs(v - centre)
        valves |= line & ((across < half_width) if phase == "ES" else (np.abs(across - half_width) < 3))
    return valves


def _rv_centre(heart: Heart) -> float:
    """Across-axis position (mm) of the right ventricle's centre, beyond the septum."""
    return -(heart.lv_b + heart.wall + 0.9 * heart.rv[1])


def _scene(regions: dict, texture: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Reflectivity and attenuation: dark blood, grey walls, a bright pericardium and valves, mottled
    surroundings."""
    coarse, fine = texture
    reflectivity = 0.12 * np.exp(0.6 * coarse)
    reflectivity = np.where(regions["wall"], 0.8 * np.exp(0.3 * fine), reflectivity)
    reflectivity = np.where(regions["pericardium"], 3.0, reflectivity)
    blood = regions["LV"] | regions["LA"] | regions["RV"] | regions["RA"]
    reflectivity = np.where(blood, 0.004 * np.exp(0.5 * fine), reflectivity)
    reflectivity = np.where(regions["valves"], 2.5, reflectivity)
    attenuation = np.where(blood, BLOOD_ATTENUATION, TISSUE_ATTENUATION)
    return reflectivity, attenuation
