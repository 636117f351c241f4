"""Lung point-of-care ultrasound from a convex probe: chest wall, ribs, pleural line and the air artifacts below.

Below the pleura the beam meets air, so what the image shows there are artifacts that follow the scan lines,
added in beam coordinates: A-lines (the pleural echo reverberating between pleura and probe, at multiples of
the pleural depth, fading), B-lines (bright vertical comet tails from the pleura to the bottom of the image,
which erase the A-lines) and, for pneumonia, a consolidation (air-free lung that looks like tissue, with
bright air bronchograms). Classes: "regular" shows A-lines only; "covid" an irregular, fragmented pleural line
with several, often confluent B-lines and small subpleural consolidations; "pneumonia" a consolidation and a
few B-lines. Frames of one video share the scene; the lung slides sideways with breathing and the speckle
partly decorrelates from frame to frame.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from custom.ultrasound.synthetic.bmode import (
    SAMPLES_PER_PIXEL, BeamGrid, Look, Probe, beam_grid, draw_scatterers, form_image, pixel_size_mm, to_beam,
)
from custom.ultrasound.synthetic.shapes import (
    band, ellipse_radius, perturbed_radius, smooth_field, smooth_profile, star_mask,
)

PROBE = Probe("sector", depth_mm=120.0, frequency_mhz=3.5, angle_deg=55.0, radius_mm=45.0, beam_sigma_lines=1.3)
CLASSES = ("covid", "pneumonia", "regular")
TISSUE_ATTENUATION = 0.6  # dB/(cm MHz)
AIR = 0.01  # reflectivity of the air region before artifacts
FRAME_CORRELATION = 0.85  # speckle kept from one frame to the next


def lung_video(rng: np.random.Generator, shape: tuple[int, int], label: str, n_frames: int) -> list[np.ndarray]:
    """``n_frames`` grey frames (uint8) of one lung video of class ``label``."""
    if label not in CLASSES:
        raise ValueError(f"lung class must be one of {CLASSES}, got {label!r}")
    pixel = pixel_size_mm(PROBE, shape)
    grid = beam_grid(PROBE, shape)
    pleura = (rng.uniform(14, 24) + smooth_profile(rng, shape[1], rng.uniform(0.5, 2))) / pixel
    reflectivity, attenuation = _chest_wall(rng, shape, pixel, pleura)
    lung = _lung_findings(rng, shape, pixel, pleura, label)
    look = Look(dynamic_range_db=rng.uniform(50, 60), level_db=rng.uniform(22, 28),
                tgc_attenuation=TISSUE_ATTENUATION * rng.uniform(0.9, 1.05))
    period, amplitude = rng.uniform(8, 16), rng.uniform(1.0, 3.0) / pixel  # breathing: frames, pixels
    scatterers = draw_scatterers(rng, grid)
    frames = []
    for frame in range(n_frames):
        if frame:
            fresh = draw_scatterers(rng, grid)
            scatterers = FRAME_CORRELATION * scatterers + np.sqrt(1 - FRAME_CORRELATION ** 2) * fresh
        shift = amplitude * np.sin(2 * np.pi * frame / period)
        consolidation = _shifted(lung["consolidation"].astype(float), shift) > 0.5
        scene = np.where(consolidation, _shifted(lung["tissue"], shift), reflectivity)
        edit = _beam_artifacts(lung, pleura, shift, consolidation)
        frames.append(form_image(scene, attenuation, PROBE, look, rng, scatterers=scatterers, beam_edit=edit))
    return frames


def _shifted(image: np.ndarray, shift: float) -> np.ndarray:
    """``image`` slid ``shift`` pixels to the right: the lung under the chest wall as the patient breathes."""
    return ndimage.shift(image, (0, shift), order=1, mode="nearest")


def _chest_wall(rng, shape, pixel, pleura) -> tuple[np.ndarray, np.ndarray]:
    """Soft tissue above the pleura (subcutis and muscle with fasciae) and the ribs with their shadows."""
    height, width = shape
    rows = np.arange(height, dtype=float)[:, None]
    muscle = 0.3 * np.exp(0.4 * smooth_field(rng, shape, (0.8 / pixel, 4 / pixel)))
    fascia = rng.uniform(0.3, 0.6) * pleura + smooth_profile(rng, width, 1.5 / pixel)
    reflectivity = muscle + 2.0 * band(shape, fascia, 0.3 / pixel)
    reflectivity = np.where(rows > pleura[None, :], 0.3, reflectivity)
    attenuation = np.full(shape, TISSUE_ATTENUATION)
    half_angle = np.deg2rad(PROBE.angle_deg) / 2
    below_apex = pleura.mean() * pixel + PROBE.radius_mm * np.cos(half_angle)  # mm, the image's top at the corners
    half_view = below_apex * np.tan(half_angle) / pixel  # half the field's width at the pleura, pixels
    for side in (-1, 1) if rng.random() < 0.7 else ():
        centre_col = width / 2 + side * rng.uniform(0.6, 0.85) * half_view
        rib = star_mask(shape, (pleura[int(np.clip(centre_col, 0, width - 1))] - 2 / pixel, centre_col),
                        ellipse_radius((3 / pixel, rng.uniform(4, 5.5) / pixel)))
        top = rib & ~ndimage.binary_erosion(rib, iterations=max(1, round(0.6 / pixel)))
        reflectivity = np.where(rib, np.where(top, 8.0, 0.3), reflectivity)
        attenuation[rib & ~top] = 25.0  # bone under its bright surface: an acoustic shadow below
    return reflectivity, attenuation


def _b_line(rng: np.random.Generator, width: int, pixel: float, covid: bool) -> tuple[float, float, float]:
    """One B-line: centre column at the pleura, lateral half width (pixels), brightness (reflectivity)."""
    half_width_mm = rng.uniform(1.0, 2.0) * (3 if covid and rng.random() < 0.3 else 1)  # some confluent
    return rng.uniform(0.2, 0.8) * width, half_width_mm / pixel, rng.uniform(2, 5)


def _consolidation(rng, shape, pixel, pleura, label) -> np.ndarray:
    """Air-free lung below the pleura: one large region (pneumonia) or a few small ones (covid), with a
    ragged deep border."""
    height, width = shape
    region = np.zeros(shape, bool)
    if label == "regular":
        return region
    count = 1 if label == "pneumonia" else int(rng.integers(0, 3))
    for _ in range(count):
        size_mm = (rng.uniform(10, 25), rng.uniform(12, 22)) if label == "pneumonia" else \
            (rng.uniform(2, 4), rng.uniform(2, 5))
        col = rng.uniform(0.3, 0.7) * width
        top = pleura[int(col)]
        ragged = perturbed_radius(rng, ellipse_radius((size_mm[0] / pixel, size_mm[1] / pixel)),
                                  {k: 0.25 / k ** 0.5 for k in range(2, 12)}, floor=0.4)
        blob = star_mask(shape, (top, col), ragged)
        region |= blob & (np.arange(height)[:, None] > top)
    return region


def _lung_findings(rng, shape, pixel, pleura, label) -> dict:
    """Per class: pleural brightness (with gaps), thickness and waviness, A-line decay, B-lines and the
    consolidation with its tissue."""
    width = shape[1]
    covid = label == "covid"
    strength = rng.uniform(10, 20) * np.ones(width)
    for _ in range(int(rng.integers(2, 6)) if covid else 0):
        start = int(rng.uniform(0, width))
        strength[start:start + int(rng.uniform(1, 4) / pixel) + 1] *= rng.uniform(0.05, 0.3)
    count = {"regular": 0, "pneumonia": int(rng.integers(1, 4)), "covid": int(rng.integers(3, 8))}[label]
    bronchograms = (smooth_field(rng, shape, 0.7 / pixel) > 2.2) * 8.0 if label == "pneumonia" else 0.0
    return {"pleura_strength": strength, "pleura_half_width": (0.9 if covid else 0.5) / pixel * rng.uniform(0.8, 1.3),
            "pleura_wiggle": smooth_profile(rng, width, 0.6 / pixel, 12) if covid else np.zeros(width),
            "a_decay": rng.uniform(0.2, 0.4) * (0.5 if covid else 1.0),
            "b_lines": [_b_line(rng, width, pixel, covid) for _ in range(count)],
            "consolidation": _consolidation(rng, shape, pixel, pleura, label),
            "tissue": 0.8 * np.exp(0.4 * smooth_field(rng, shape, 1.0 / pixel)) + bronchograms}


def _beam_artifacts(lung: dict, pleura: np.ndarray, shift: float, consolidation: np.ndarray):
    """The ``beam_edit`` of one frame: pleural line, A-lines, B-lines and consolidation in beam coordinates,
    the lung slid sideways by ``shift`` pixels."""

    def edit(reflectivity: np.ndarray, grid: BeamGrid) -> np.ndarray:
        columns = np.arange(grid.image_shape[1], dtype=float)
        below = grid.rows >= np.interp(grid.cols, columns, pleura + lung["pleura_wiggle"])
        first = np.argmax(below, axis=0)  # first sample below the pleura on each line
        at_pleura = grid.cols[first, np.arange(grid.shape[1])]  # where each line crosses it: B-lines follow lines
        samples = np.arange(grid.shape[0], dtype=float)[:, None]
        half = lung["pleura_half_width"] * SAMPLES_PER_PIXEL
        echo = np.zeros(grid.shape)
        for k in range(1, 8):  # the pleura (k = 1) and its reverberations
            distance = np.abs(samples - (k * (first + 0.5) - 0.5))
            echo += lung["a_decay"] ** (k - 1) * np.clip(half + 1 - distance, 0, 1)
        echo *= np.interp(at_pleura - shift, columns, lung["pleura_strength"])
        comet = np.zeros(grid.shape[1])
        for centre, half_width, brightness in lung["b_lines"]:
            comet = np.maximum(comet, brightness * np.exp(-0.5 * ((at_pleura - centre - shift) / half_width) ** 2))
        pleural_band = samples <= first + half + 1
        air = AIR + np.maximum(echo * np.clip(1 - comet, 0, 1), comet * (samples > first))
        air = np.where(pleural_band, np.maximum(echo, reflectivity), air)
        # past consolidated lung the beam meets tissue, then ragged aerated lung: no clean reverberation
        consolidated = to_beam(consolidation.astype(np.float32), grid) > 0.5
        passed = np.maximum.accumulate(consolidated, axis=0)
        air = np.where(passed & ~consolidated, AIR + comet, air)
        return np.where(below & ~consolidated | pleural_band & ~below, air, reflectivity)

    return edit
