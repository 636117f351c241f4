"""Asymmetry maps: how far each location of one breast is from the most similar nearby location of the other.

Alignment of the two breasts is only affine, so a location is compared with every cell of the other breast
within ``radius`` cells (a ``(2r+1) x (2r+1)`` neighbourhood) and the closest one counts: a residual shift of
up to ``radius`` cells costs nothing, while tissue with no counterpart anywhere nearby stays far.

The maps are small (one cell per 32 px), so this runs in NumPy: a few dozen tiny array operations, which a
multi-threaded tensor library would spend more time dispatching than computing.
"""

from __future__ import annotations

import numpy as np


def _as_maps(embeddings, other) -> tuple[np.ndarray, np.ndarray]:
    a, b = (np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32) for x in (embeddings, other))
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"need two (D, h, w) embedding maps of one shape, got {a.shape} and {b.shape}")
    return a, b


def asymmetry_distances(embeddings, other, radius: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Both sides' neighbourhood distance maps, ``(h, w)`` float32 each.

    The first map holds, per cell of ``embeddings``, the Euclidean distance to the closest vector of ``other``
    within ``radius`` cells; the second the same from ``other``'s point of view. Neighbours beyond the grid's
    edge are not candidates. Inputs are ``(D, h, w)`` arrays or tensors on one grid.
    """
    a, b = _as_maps(embeddings, other)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    _, height, width = a.shape
    best_a = np.full((height, width), np.inf, dtype=np.float32)
    best_b = np.full((height, width), np.inf, dtype=np.float32)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            # cells (y, x) of a facing cells (y + dy, x + dx) of b, where both exist
            rows_a, rows_b = slice(max(0, -dy), height - max(0, dy)), slice(max(0, dy), height - max(0, -dy))
            cols_a, cols_b = slice(max(0, -dx), width - max(0, dx)), slice(max(0, dx), width - max(0, -dx))
            difference = a[:, rows_a, cols_a] - b[:, rows_b, cols_b]
            squared = np.einsum("dyx,dyx->yx", difference, difference)
            np.minimum(best_a[rows_a, cols_a], squared, out=best_a[rows_a, cols_a])
            np.minimum(best_b[rows_b, cols_b], squared, out=best_b[rows_b, cols_b])
    return np.sqrt(best_a), np.sqrt(best_b)


def neighbourhood_distance(embeddings, other, radius: int = 1) -> np.ndarray:
    """Per cell of ``embeddings``, the distance to the closest vector of ``other`` within ``radius`` cells."""
    return asymmetry_distances(embeddings, other, radius)[0]
