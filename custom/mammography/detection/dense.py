"""Dense embedders: one vector per grid cell of a whole breast, each standing for the patch centred there.

Grid contract shared by every embedder: on a ``(B, 1, H, W)`` input the output is ``(B, D, h, w)`` with
``h = ceil(H / stride)``, ``w = ceil(W / stride)``, and cell ``(i, j)`` describes the ``patch_size`` square
patch centred on the continuous pixel point ``(y, x) = (stride * i + offset, stride * j + offset)`` (pixel
``(r, c)`` covering ``[r, r + 1) x [c, c + 1)``, as in ``custom.mammography.data.geometry``). Parts of a patch outside the
image count as background.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from custom.training.precision import MixedPrecision
from custom.networks.siamese import SiameseEncoder

# ResNet-18 halves the resolution four times after its first convolution (max pool, layers 2, 3 and 4).
_STRIDE_AFTER_STEM = 16


class DenseEmbedder(Protocol):
    """``(B, 1, H, W)`` images -> ``(B, D, h, w)`` embeddings on the grid described in the module docstring."""

    stride: int
    patch_size: int
    offset: float

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """The dense embeddings of ``images``."""


def grid_shape(image_shape: tuple[int, int], stride: int) -> tuple[int, int]:
    """Cells of the grid over an ``(H, W)`` image."""
    return math.ceil(image_shape[0] / stride), math.ceil(image_shape[1] / stride)


def sample_at_cells(image: np.ndarray, stride: int, offset: float) -> np.ndarray:
    """Values of a full-resolution ``(H, W)`` map at the pixels holding the grid cells' centres."""
    height, width = grid_shape(image.shape, stride)
    rows = np.minimum(np.floor(np.arange(height) * stride + offset).astype(int), image.shape[0] - 1)
    cols = np.minimum(np.floor(np.arange(width) * stride + offset).astype(int), image.shape[1] - 1)
    return np.asarray(image)[np.ix_(rows, cols)]


@lru_cache(maxsize=64)
def _interpolation_matrix(size: int, cells: int, stride: int, offset: float) -> np.ndarray:
    """``(size, cells)`` weights of linear interpolation from cell centres to pixel centres along one axis."""
    # pixel index p has its centre at p + 0.5, (p + 0.5 - offset) / stride cells from the first cell's centre
    position = np.clip((np.arange(size) + 0.5 - offset) / stride, 0, cells - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, cells - 1)
    weights = np.zeros((size, cells), dtype=np.float32)
    np.add.at(weights, (np.arange(size), low), 1.0 - (position - low))
    np.add.at(weights, (np.arange(size), high), position - low)
    weights.flags.writeable = False  # shared through the cache
    return weights


def cells_to_pixels(values: np.ndarray, stride: int, offset: float, image_shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of ``(..., h, w)`` grid maps to ``(..., H, W)`` pixels (constant beyond the edge cells).

    Separable, so it is two small matrix products.
    """
    values = np.asarray(values, dtype=np.float32)
    rows = _interpolation_matrix(image_shape[0], values.shape[-2], stride, float(offset))
    # a contiguous right-hand factor keeps the batched product on the fast matrix-multiply path
    cols = np.ascontiguousarray(_interpolation_matrix(image_shape[1], values.shape[-1], stride, float(offset)).T)
    return rows @ values @ cols


def _window_mean(features: torch.Tensor, cells: int) -> torch.Tensor:
    """Mean over a ``cells`` x ``cells`` window, stride 1; output cell ``i`` averages cells ``i - cells // 2``
    to ``i - cells // 2 + cells - 1``.

    Only cells inside the map are averaged, so border cells stand for the part of their patch in the image.
    """
    before = cells // 2
    pad = (before, cells - 1 - before, before, cells - 1 - before)
    total = F.avg_pool2d(F.pad(features, pad), cells, stride=1)
    count = F.avg_pool2d(F.pad(torch.ones_like(features[:, :1]), pad), cells, stride=1)
    return total / count


class EncoderDenseEmbedder:
    """The trained patch encoder applied to a whole breast in one fully convolutional pass.

    ``encoder.feature_map`` gives one 512-d vector per ``stride`` px cell (32 px with the stride-2 stem: the
    stem, the max pool and layers 2-4 each halve the resolution); a ``patch_size`` patch whose corner lies on
    that lattice has exactly ``k = patch_size / stride`` cells, and its embedding is their global average.
    Averaging every ``k`` x ``k`` window of the whole-breast map therefore gives, in one pass, the pooled
    features of all such patches; the projection head (if any) and the L2 normalisation then act per cell.
    Output cell ``i`` averages cells ``i - k // 2 ..``, so its patch is centred at ``stride * i + offset``
    with ``offset = stride * (k / 2 - k // 2)`` (half a cell when ``k`` is odd). The vectors approximate
    patch-by-patch embeddings rather than equal them: the deep features' receptive fields reach past the
    patch, so where a lone patch sees the convolutions' zero padding the dense pass sees the tissue around it.

    Args:
        encoder: a trained :class:`SiameseEncoder`; it is put in eval mode (and channels-last under ``precision``).
        patch_size: training patch size in pixels; a multiple of the encoder's stride.
        precision: autocast dtype, memory layout and device; ``None`` runs in fp32 on the encoder's device.
    """

    def __init__(self, encoder: SiameseEncoder, patch_size: int = 96, precision: MixedPrecision | None = None):
        self.stride = _STRIDE_AFTER_STEM * int(encoder.backbone.conv1.stride[0])
        if patch_size <= 0 or patch_size % self.stride:
            raise ValueError(
                f"patch_size must be a positive multiple of the encoder's stride {self.stride}, got {patch_size}"
            )
        self.patch_size = int(patch_size)
        cells = self.patch_size // self.stride
        self.offset = self.stride * (cells / 2 - cells // 2)
        if precision is None:
            precision = MixedPrecision(next(encoder.parameters()).device, enabled=False)
        self.precision = precision
        self.encoder = precision.prepare_model(encoder.to(precision.device)).eval()

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` -> ``(B, D, ceil(H/stride), ceil(W/stride))`` float32, on the precision's device."""
        images = self.precision.prepare_input(images.float())
        with self.precision.autocast():
            features = self.encoder.feature_map(images).float()
            pooled = _window_mean(features, self.patch_size // self.stride)
            cells = self.encoder.projection(pooled.permute(0, 2, 3, 1))
        cells = cells.float()
        if self.encoder.normalize:
            cells = F.normalize(cells, dim=-1)
        return cells.permute(0, 3, 1, 2).contiguous()


class RawPixelDenseEmbedder:
    """Raw-pixel baseline: each cell's vector is its patch averaged down to ``grid`` x ``grid`` pixels.

    Cell ``i`` is the patch centred at ``stride * i`` (``offset`` 0).

    Comparing these vectors across the two breasts is a plain pixel-difference detector, so it goes through
    exactly the same asymmetry maps, calibration and candidate extraction as the learned embedding.

    Args:
        patch_size: patch side in pixels; a multiple of ``grid``.
        stride: grid spacing in pixels.
        grid: the patch is reduced to ``grid`` x ``grid`` block means (``D = grid ** 2``).
    """

    def __init__(self, patch_size: int = 96, stride: int = 16, grid: int = 8):
        if min(patch_size, stride, grid) <= 0 or patch_size % grid:
            raise ValueError(
                f"need positive sizes with patch_size a multiple of grid, got patch_size={patch_size}, "
                f"stride={stride}, grid={grid}"
            )
        self.patch_size, self.stride, self.grid = int(patch_size), int(stride), int(grid)
        self.offset = 0.0

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` -> ``(B, grid ** 2, ceil(H/stride), ceil(W/stride))`` float32 block means."""
        images = images.float()
        height, width = grid_shape(images.shape[-2:], self.stride)
        half = self.patch_size // 2
        padded = F.pad(images, (half, half, half, half))
        block = self.patch_size // self.grid
        step = math.gcd(block, self.stride)
        # block means on a fine lattice; each cell's blocks are lattice points block/step apart
        means = F.avg_pool2d(padded, block, stride=step)
        cells = F.unfold(means, self.grid, dilation=block // step, stride=self.stride // step)
        rows = (means.shape[-2] - (block // step) * (self.grid - 1) - 1) // (self.stride // step) + 1
        cells = cells.reshape(images.shape[0], self.grid**2, rows, -1)
        return cells[:, :, :height, :width].contiguous()
