"""PNG overlays: a heatmap and its candidate boxes drawn over the mammogram, in the original file's geometry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from custom.mammography.data.reader import read_mammogram
from custom.atomic_write import replaced_when_done

MAX_SIDE_PX = 1024  # overlays are for looking at: larger originals are shown downsampled
HEAT_OPACITY = 0.65  # opacity of a probability-1 location; lower probabilities fade out


def original_for_display(path: str | Path, laterality: str, view: str, original_shape: tuple[int, int]) -> np.ndarray:
    """The file's image normalised to [0, 1] in its stored orientation (not flipped), at most ~MAX_SIDE_PX."""
    downsample = max(1.0, max(original_shape) / MAX_SIDE_PX)
    image, meta = read_mammogram(
        path, laterality=laterality, view=view, downsample=downsample, segment=False, crop=False
    )
    return image[:, ::-1] if meta["flipped"] else image


def write_overlay(
    path: str | Path, heatmap: np.ndarray, image_path: str | Path, side: str, view: str, candidates: Sequence[dict],
    title: str,
) -> Path:
    """Writes the overlay of an original-geometry ``heatmap`` and JSON-style ``candidates`` (original pixels)."""
    height, width = heatmap.shape
    image = original_for_display(image_path, side, view, (height, width))
    fig = Figure(figsize=(image.shape[1] / 100, image.shape[0] / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    extent = (0, width, height, 0)
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, extent=extent, interpolation="bilinear")
    step = max(1, int(np.ceil(max(height, width) / MAX_SIDE_PX)))  # the smooth map, at most display size:
    shown = np.clip(heatmap[::step, ::step], 0, 1)  # colouring a detector-size map would take gigabytes
    colours = colormaps["inferno"](shown, bytes=True)
    colours[..., 3] = np.round(255 * HEAT_OPACITY * shown).astype(np.uint8)
    ax.imshow(colours, extent=extent, interpolation="bilinear")
    for rank, candidate in enumerate(candidates, 1):
        xmin, ymin, xmax, ymax = candidate["box"]
        colour = "cyan" if rank == 1 else "lime"
        ax.add_patch(Rectangle((xmin, ymin), xmax - xmin, ymax - ymin, fill=False, edgecolor=colour, linewidth=1.2))
        ax.text(xmin + 2, ymin + 2, f"{rank}: {candidate['score']:.2f}", color=colour, fontsize=7, va="top")
    ax.text(0.01, 0.99, title, transform=ax.transAxes, color="white", fontsize=8, va="top",
            bbox={"facecolor": "black", "alpha": 0.5, "pad": 2})
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_axis_off()
    path = Path(path)
    with replaced_when_done(path, keep_suffix=True) as tmp:
        fig.savefig(tmp)
    return path
