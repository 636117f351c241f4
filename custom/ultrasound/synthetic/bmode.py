"""B-mode image formation, the way a scanner forms it, so that speckle, shadows and artifacts arise from physics.

A scene gives, on the output pixel grid, the backscatter power (reflectivity) and the attenuation of each
point. It is resampled into beam coordinates (depth along each scan line x line), filled with random
scatterers whose power follows the reflectivity, attenuated along each beam on the way in and out, convolved
with the pulse (a Gaussian-windowed carrier axially, a Gaussian beam laterally), envelope-detected as the
modulus of the analytic signal, amplified by time-gain compensation (TGC), log-compressed to a dynamic range and
scan-converted back to the pixel grid, black outside the field of view.

The pulse is set in pixels (a carrier period of two output pixels), so speckle keeps its size in pixels at
every image size; attenuation uses the probe's nominal frequency in physical units, so shadowing and
enhancement behind a structure depend on its thickness in millimetres as they do in tissue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import ndimage

SAMPLES_PER_PIXEL = 2  # radial RF samples per output pixel
CARRIER_PERIOD = 4  # RF samples per carrier period
PULSE_SIGMA = 3.0  # RF samples: the Gaussian window of the transmitted pulse
RAYLEIGH_RATIO = float(np.sqrt(4 / np.pi - 1))  # std / mean of fully developed speckle's envelope (0.523)


@dataclass(frozen=True)
class Probe:
    """Scan geometry and nominal frequency. ``kind``: "linear" (parallel vertical lines) or "sector"
    (lines fanning out from an apex ``radius_mm`` above the skin: 0 for a phased array, 40-60 mm for a
    convex probe), ``angle_deg`` the sector's full opening."""

    kind: str
    depth_mm: float
    frequency_mhz: float
    angle_deg: float = 0.0
    radius_mm: float = 0.0
    beam_sigma_lines: float = 1.0

    def __post_init__(self):
        if self.kind not in ("linear", "sector"):
            raise ValueError(f"probe kind must be 'linear' or 'sector', got {self.kind!r}")
        if self.kind == "sector" and not 0 < self.angle_deg < 180:
            raise ValueError(f"a sector probe needs an opening angle in (0, 180) degrees, got {self.angle_deg}")


@dataclass(frozen=True)
class Look:
    """Scanner settings: dynamic range of the log compression, where unit reflectivity sits above the black
    level (both dB), and how much of the tissue's attenuation the TGC curve undoes (``tgc_attenuation`` in
    dB/(cm MHz), one way)."""

    dynamic_range_db: float = 50.0
    level_db: float = 30.0
    tgc_attenuation: float = 0.7


@dataclass(frozen=True)
class BeamGrid:
    """Where each RF sample (depth index, line index) lies on the output pixel grid, and the depth step."""

    rows: np.ndarray
    cols: np.ndarray
    depth_mm: np.ndarray  # depth below the skin of each sample row
    image_shape: tuple[int, int]
    probe: Probe
    pixel_mm: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows.shape


def _top_mm(probe: Probe) -> float:
    """Depth below the apex of the image's top row: the sector's upper corners (0 for a phased array)."""
    return probe.radius_mm * np.cos(np.deg2rad(probe.angle_deg) / 2) if probe.kind == "sector" else 0.0


def pixel_size_mm(probe: Probe, shape: tuple[int, int]) -> float:
    """Square pixel size that fits the whole field of view into ``shape``."""
    height, width = shape
    if probe.kind == "linear":
        return probe.depth_mm / height
    outer = probe.radius_mm + probe.depth_mm
    span = 2 * outer * np.sin(np.deg2rad(probe.angle_deg) / 2)
    return max((outer - _top_mm(probe)) / height, span / width)


def beam_grid(probe: Probe, shape: tuple[int, int]) -> BeamGrid:
    """The RF sample positions of ``probe`` on an image of ``shape``: one line per pixel column."""
    height, width = shape
    pixel = pixel_size_mm(probe, shape)
    depth = (np.arange(int(np.ceil(probe.depth_mm / pixel)) * SAMPLES_PER_PIXEL) + 0.5) / SAMPLES_PER_PIXEL * pixel
    if probe.kind == "linear":
        rows, cols = np.meshgrid(depth / pixel - 0.5, np.arange(width, dtype=float), indexing="ij")
    else:
        half = np.deg2rad(probe.angle_deg) / 2
        angles = np.linspace(-half, half, width)
        radius = probe.radius_mm + depth
        rows = (radius[:, None] * np.cos(angles)[None, :] - _top_mm(probe)) / pixel - 0.5
        cols = radius[:, None] * np.sin(angles)[None, :] / pixel + (width - 1) / 2
    return BeamGrid(rows, cols, depth, (height, width), probe, pixel)


def to_beam(image_map: np.ndarray, grid: BeamGrid) -> np.ndarray:
    """A map on the pixel grid (reflectivity, attenuation) resampled at the RF sample positions."""
    return ndimage.map_coordinates(image_map.astype(np.float32), [grid.rows, grid.cols], order=1, mode="nearest")


def draw_scatterers(rng: np.random.Generator, grid: BeamGrid, density: np.ndarray | None = None) -> np.ndarray:
    """Random scatterer amplitudes at the RF samples. With ``density`` (in beam coordinates, 0-1) a sample
    holds a scatterer with that probability: sparse scatterers give brighter-spotted, non-Rayleigh speckle."""
    amplitudes = rng.standard_normal(grid.shape).astype(np.float32)
    if density is not None:
        amplitudes *= (rng.random(grid.shape) < density) / np.sqrt(np.maximum(density, 1e-3))
    return amplitudes


def pulse_kernels(beam_sigma_lines: float) -> tuple[np.ndarray, np.ndarray]:
    """Axial analytic pulse (a Gaussian-windowed complex carrier: its real part is the transmitted RF
    pulse, its imaginary part that pulse's Hilbert transform) and the lateral beam profile (a Gaussian).

    Convolving with the analytic pulse gives the analytic RF signal directly, without the FFT Hilbert
    transform's wrap-around, which TGC would amplify into a bright band at the bottom of the image.
    The real part has unit energy, like the lateral profile."""
    n = np.arange(-int(4 * PULSE_SIGMA), int(4 * PULSE_SIGMA) + 1)
    axial = np.exp(-0.5 * (n / PULSE_SIGMA) ** 2) * np.exp(2j * np.pi * n / CARRIER_PERIOD)
    m = np.arange(-int(np.ceil(4 * beam_sigma_lines)), int(np.ceil(4 * beam_sigma_lines)) + 1)
    lateral = np.exp(-0.5 * (m / beam_sigma_lines) ** 2)
    return axial / np.linalg.norm(axial.real), lateral / np.linalg.norm(lateral)


def echo_envelope(reflectivity: np.ndarray, attenuation: np.ndarray, grid: BeamGrid,
                  scatterers: np.ndarray) -> np.ndarray:
    """Envelope of the received echo in beam coordinates (the modulus of the analytic RF signal), scaled so
    that unit reflectivity without attenuation has mean 1 (its ratio std/mean is then the Rayleigh 0.523).

    ``reflectivity``: backscattered power; ``attenuation``: dB/(cm MHz) one way, accumulated along each line
    from the skin and counted twice (in and out)."""
    step_cm = (grid.depth_mm[1] - grid.depth_mm[0]) / 10
    loss_db = 2 * grid.probe.frequency_mhz * step_cm * np.cumsum(attenuation, axis=0)
    amplitude = scatterers * np.sqrt(reflectivity) * 10 ** (-loss_db / 20)
    axial, lateral = pulse_kernels(grid.probe.beam_sigma_lines)
    beam = ndimage.convolve1d(amplitude, lateral, axis=1, mode="constant")
    in_phase = ndimage.convolve1d(beam, axial.real, axis=0, mode="constant")
    quadrature = ndimage.convolve1d(beam, axial.imag, axis=0, mode="constant")
    # white Gaussian scatterers through a unit-energy pulse: a circular complex Gaussian signal whose real
    # and imaginary parts have unit variance, hence a Rayleigh modulus of mean sqrt(pi / 2)
    return np.hypot(in_phase, quadrature) / np.sqrt(np.pi / 2)


def time_gain(envelope: np.ndarray, grid: BeamGrid, look: Look) -> np.ndarray:
    """The envelope with TGC applied: the gain that undoes ``look.tgc_attenuation`` at each depth."""
    gain_db = 2 * look.tgc_attenuation * grid.probe.frequency_mhz * grid.depth_mm / 10
    return envelope * (10 ** (gain_db / 20))[:, None]


def log_compress(envelope: np.ndarray, look: Look) -> np.ndarray:
    """Grey levels 0-1: ``look.dynamic_range_db`` of echo amplitude above the black level, unit reflectivity
    at ``look.level_db``."""
    decibels = 20 * np.log10(np.maximum(envelope, 1e-12))
    return np.clip((decibels + look.level_db) / look.dynamic_range_db, 0.0, 1.0)


def scan_convert(beam_image: np.ndarray, grid: BeamGrid) -> np.ndarray:
    """Beam-coordinate grey levels onto the pixel grid; pixels outside the field of view are 0."""
    height, width = grid.image_shape
    rows, cols = np.mgrid[0:height, 0:width].astype(float)
    if grid.probe.kind == "linear":
        depth_index = (rows + 0.5) * SAMPLES_PER_PIXEL - 0.5
        line_index = cols
    else:
        x = (cols - (width - 1) / 2) * grid.pixel_mm
        z = (rows + 0.5) * grid.pixel_mm + _top_mm(grid.probe)
        radius = np.hypot(x, z)
        half = np.deg2rad(grid.probe.angle_deg) / 2
        depth_index = (radius - grid.probe.radius_mm) / grid.pixel_mm * SAMPLES_PER_PIXEL - 0.5
        line_index = (np.arctan2(x, z) + half) / (2 * half) * (width - 1)
    n_depth, n_lines = grid.shape
    inside = (depth_index >= 0) & (depth_index <= n_depth - 1) & (line_index >= 0) & (line_index <= n_lines - 1)
    converted = ndimage.map_coordinates(beam_image, [depth_index, line_index], order=1, mode="nearest")
    return np.where(inside, converted, 0.0)


def field_of_view(grid: BeamGrid) -> np.ndarray:
    """Boolean mask of the pixels the probe images."""
    return scan_convert(np.ones(grid.shape, dtype=np.float32), grid) > 0.5


def form_image(reflectivity: np.ndarray, attenuation: np.ndarray, probe: Probe, look: Look,
               rng: np.random.Generator, *, density: np.ndarray | None = None, scatterers: np.ndarray | None = None,
               beam_edit: Callable[[np.ndarray, BeamGrid], np.ndarray] | None = None) -> np.ndarray:
    """The B-mode image (uint8) of a scene given on the output pixel grid.

    ``scatterers``: a field from :func:`draw_scatterers` to reuse (frames of one video); ``beam_edit``: a
    function that changes the reflectivity in beam coordinates, for artifacts that follow the scan lines
    (reverberations, comet tails)."""
    grid = beam_grid(probe, reflectivity.shape)
    beam_reflectivity = to_beam(reflectivity, grid)
    if beam_edit is not None:
        beam_reflectivity = beam_edit(beam_reflectivity, grid)
    if scatterers is None:
        scatterers = draw_scatterers(rng, grid, None if density is None else to_beam(density, grid))
    envelope = time_gain(echo_envelope(beam_reflectivity, to_beam(attenuation, grid), grid, scatterers), grid, look)
    grey = scan_convert(log_compress(envelope, look).astype(np.float32), grid)
    return np.round(grey * 255).astype(np.uint8)
