"""Separate the breast from background, film labels and scanner borders; find the chest-wall side.

Everything runs on a block-averaged copy of at most ``work_size`` pixels a side, so the cost does not
grow with the detector size, and the mask is interpolated back to the input's shape.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.transform import resize

# An edge line is a scanner border (or plain background) when 10-90 % of its values span less than this.
UNIFORM_SPREAD = 0.08
# The tissue threshold lies this fraction of the way from the background level up to Otsu's threshold.
THRESHOLD_FRACTION = 1 / 3
# Borders are searched at most this fraction of the image deep from each edge.
MAX_BORDER_FRACTION = 0.1


def breast_mask(image: np.ndarray, *, work_size: int = 256, min_threshold: float = 0.05) -> np.ndarray:
    """Boolean breast mask of a float image in [0, 1] (bright = dense), same shape as ``image``.

    Steps: uniform lines along the edges (scanner borders) are set aside; Otsu's threshold, lowered
    towards the background level to keep the thin skin-line tissue and floored at ``min_threshold``,
    separates tissue from background; the largest component touching the left or right edge is the
    breast (film labels are smaller separate blobs); holes are filled and the outline smoothed.
    """
    factor = max(1, int(np.ceil(max(image.shape) / work_size)))
    small = block_mean(image, factor)
    depths = border_depths(small)
    border = border_mask(depths, small.shape)
    foreground = ndimage.binary_opening(small > breast_threshold(small[~border], min_threshold))
    breast = ndimage.binary_fill_holes(_largest_side_component(foreground & ~border, depths))
    sigma = max(1.0, 0.01 * max(small.shape))
    smooth = (ndimage.gaussian_filter(breast.astype(np.float32), sigma, mode="nearest") > 0.5) & ~border
    if factor == 1:
        return smooth
    grown = resize(smooth.astype(np.float32), [n * factor for n in small.shape], order=1, anti_aliasing=False)
    return grown[: image.shape[0], : image.shape[1]] > 0.5


def chest_wall_side(mask: np.ndarray, *, band: float = 0.1) -> Literal["left", "right"]:
    """The side whose outer ``band`` of columns holds more breast: the breast is widest at the chest wall.

    A band rather than the edge column alone, so a scanner border or a dark frame along the edge does
    not hide the breast behind it.
    """
    width = max(1, int(round(band * mask.shape[1])))
    return "right" if mask[:, -width:].sum() > mask[:, :width].sum() else "left"


def breast_threshold(values: np.ndarray, min_threshold: float = 0.05) -> float:
    """Tissue/background threshold, at least ``min_threshold``.

    THRESHOLD_FRACTION of the way from the median background value (below Otsu's threshold) up to
    Otsu's threshold, so the faint tissue near the skin line stays in the breast.
    """
    if values.size == 0 or values.min() == values.max():
        return float(min_threshold)
    otsu = float(threshold_otsu(values))
    background = float(np.median(values[values <= otsu]))
    return max(min_threshold, background + THRESHOLD_FRACTION * (otsu - background))


def border_depths(image: np.ndarray) -> dict[str, int]:
    """Depth in pixels of the uniform band (bright or dark scanner border, flat background) at each edge.

    Lines are taken from the edge inwards while they stay uniform, at most MAX_BORDER_FRACTION deep; a
    line crossing the breast is textured and stops the search.
    """
    # np.rot90 by k turns the top, right, bottom and left edge in turn into the first row.
    return {edge: _uniform_depth(np.rot90(image, k)) for k, edge in enumerate(("top", "right", "bottom", "left"))}


def border_mask(depths: dict[str, int], shape: tuple[int, int]) -> np.ndarray:
    """True inside the edge bands given by ``border_depths``."""
    border = np.ones(shape, dtype=bool)
    border[depths["top"] : shape[0] - depths["bottom"], depths["left"] : shape[1] - depths["right"]] = False
    return border


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor`` x ``factor`` blocks (area-averaging downsampling, anti-aliased and fast).

    The bottom/right edges are padded by repetition to a whole number of blocks, so block ``(i, j)``
    covers input rows ``[i f, (i + 1) f)`` and columns ``[j f, (j + 1) f)`` exactly.
    """
    if factor == 1:
        return np.asarray(image, dtype=np.float32)
    rows, cols = (-(-n // factor) for n in image.shape)
    pad = ((0, rows * factor - image.shape[0]), (0, cols * factor - image.shape[1]))
    padded = np.pad(image, pad, mode="edge") if any(p[1] for p in pad) else image
    # Whole rows are summed first: contiguous and several times faster than a 4-D reshape's sum.
    row_sums = padded.reshape(rows, factor, cols * factor).sum(axis=1, dtype=np.float32)
    return row_sums.reshape(rows, cols, factor).sum(axis=2) / np.float32(factor * factor)


def _uniform_depth(image: np.ndarray) -> int:
    """How many rows from the top of ``image`` are uniform, up to MAX_BORDER_FRACTION of its height."""
    limit = int(MAX_BORDER_FRACTION * image.shape[0])
    if limit == 0:
        return 0
    low, high = np.percentile(image[:limit], [10, 90], axis=1)
    uniform = (high - low) < UNIFORM_SPREAD
    return limit if uniform.all() else int(np.argmin(uniform))


def _largest_side_component(foreground: np.ndarray, depths: dict[str, int]) -> np.ndarray:
    """The largest 8-connected component reaching the left or right edge (inside any border band).

    Falls back to the largest component anywhere when none reaches a side; the breast always reaches
    its chest-wall side, film labels rarely and never as the largest blob.
    """
    labels, count = ndimage.label(foreground, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return foreground
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    slack = max(2, int(0.02 * foreground.shape[1]))
    width = foreground.shape[1]
    sides = np.r_[labels[:, : depths["left"] + slack].ravel(), labels[:, width - depths["right"] - slack :].ravel()]
    touching = np.zeros(count + 1, dtype=bool)
    touching[sides] = True
    touching[0] = False
    return labels == int(np.argmax(np.where(touching, sizes, 0) if touching.any() else sizes))
