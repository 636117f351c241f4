"""Aligning the contralateral breast onto the reference breast of the same view.

Both breasts come out of ``read_mammogram`` with the chest wall on the left, so the right breast is
already mirrored with respect to the left one. What remains is a difference in size and position:
a mask-based affine (per-axis scale and translation from the masks' first and second moments) removes
it cheaply, and an optional SimpleITK intensity registration refines it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AxisAlignedAffine:
    """Maps a point of the moving breast onto the reference breast: ``p_ref = scale * p_mov + shift``.

    Points are ``(y, x)`` in pixels; ``scale`` and ``shift`` are per axis.
    """

    scale: tuple[float, float]
    shift: tuple[float, float]

    def moving_to_reference(self, yx: np.ndarray) -> np.ndarray:
        return np.asarray(yx, dtype=float) * np.asarray(self.scale) + np.asarray(self.shift)

    def reference_to_moving(self, yx: np.ndarray) -> np.ndarray:
        return (np.asarray(yx, dtype=float) - np.asarray(self.shift)) / np.asarray(self.scale)

    def box_moving_to_reference(self, box_xyxy) -> list[float]:
        """Maps an ``[xmin, ymin, xmax, ymax]`` box (scales are positive, so corners stay ordered)."""
        (y0, x0), (y1, x1) = self.moving_to_reference([[box_xyxy[1], box_xyxy[0]], [box_xyxy[3], box_xyxy[2]]])
        return [float(x0), float(y0), float(x1), float(y1)]

    def warp(self, moving: np.ndarray, reference_shape: tuple[int, int], order: int = 1) -> np.ndarray:
        """Resamples ``moving`` onto the reference grid (``order`` 1 bilinear, 0 nearest); outside is 0.

        Separable: each output row and column samples one fixed moving row and column, so the warp is two
        1-D interpolations, several times faster than a general affine resampling.
        """
        rows = self.reference_to_moving(np.stack([np.arange(reference_shape[0]), np.zeros(reference_shape[0])], 1))[:, 0]
        cols = self.reference_to_moving(np.stack([np.zeros(reference_shape[1]), np.arange(reference_shape[1])], 1))[:, 1]
        moving = np.asarray(moving, dtype=np.float32)
        return _interpolate_axis(_interpolate_axis(moving, rows, 0, order), cols, 1, order)


def _interpolate_axis(array: np.ndarray, positions: np.ndarray, axis: int, order: int) -> np.ndarray:
    """Samples ``array`` at fractional ``positions`` along ``axis``; positions outside give 0."""
    size = array.shape[axis]
    inside = (positions >= -0.5) & (positions <= size - 0.5)
    if order == 0:
        index = np.clip(np.rint(positions).astype(np.int64), 0, size - 1)
        out = np.take(array, index, axis=axis)
    else:
        clipped = np.clip(positions, 0, size - 1)
        low = np.floor(clipped).astype(np.int64)
        high = np.minimum(low + 1, size - 1)
        weight = (clipped - low).astype(np.float32)
        shape = [1, 1]
        shape[axis] = -1
        weight = weight.reshape(shape)
        out = np.take(array, low, axis=axis) * (1 - weight) + np.take(array, high, axis=axis) * weight
    mask_shape = [1, 1]
    mask_shape[axis] = -1
    return out * inside.reshape(mask_shape)


def _mask_moments(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid and spread ``(y, x)`` of the mask's pixels, from its row and column sums."""
    means, stds = [], []
    for axis in (1, 0):
        weights = mask.sum(axis=axis, dtype=np.float64)
        total = weights.sum()
        if total < 16:
            raise ValueError(f"breast mask has only {int(total)} pixels: nothing to align")
        position = np.arange(weights.size, dtype=np.float64)
        mean = (weights * position).sum() / total
        means.append(mean)
        stds.append(np.sqrt((weights * (position - mean) ** 2).sum() / total))
    return np.asarray(means), np.asarray(stds)


def align_masks(reference_mask: np.ndarray, moving_mask: np.ndarray) -> AxisAlignedAffine:
    """Affine that matches the moving mask's centroid and spread to the reference mask's, per axis."""
    ref_mean, ref_std = _mask_moments(reference_mask)
    mov_mean, mov_std = _mask_moments(moving_mask)
    scale = np.clip(ref_std / np.maximum(mov_std, 1e-6), 0.5, 2.0)
    shift = ref_mean - scale * mov_mean
    return AxisAlignedAffine(scale=tuple(float(s) for s in scale), shift=tuple(float(s) for s in shift))


def refine_with_intensity(
    reference: np.ndarray, moving: np.ndarray, initial: AxisAlignedAffine, iterations: int = 50
) -> AxisAlignedAffine:
    """Refines the mask affine by SimpleITK intensity registration (mean squares, scale + translation).

    Kept axis-aligned (no rotation or shear) so that it maps boxes to boxes; optional because the
    mask affine is usually enough after chest-wall normalisation and this costs much more.
    """
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    fixed = sitk.GetImageFromArray(reference.astype(np.float32))
    moving_img = sitk.GetImageFromArray(moving.astype(np.float32))
    # SimpleITK transforms map fixed (reference) points to moving points, in (x, y) order.
    transform = sitk.ScaleTransform(2)
    inverse_scale = 1.0 / np.asarray(initial.scale)
    transform.SetScale([float(inverse_scale[1]), float(inverse_scale[0])])
    translation = sitk.TranslationTransform(2, [float(-initial.shift[1] * inverse_scale[1]),
                                                float(-initial.shift[0] * inverse_scale[0])])
    composite = sitk.CompositeTransform([translation, transform])

    registration = sitk.ImageRegistrationMethod()
    registration.SetMetricAsMeanSquares()
    registration.SetOptimizerAsRegularStepGradientDescent(1.0, 1e-3, iterations)
    registration.SetOptimizerScalesFromPhysicalShift()
    registration.SetInterpolator(sitk.sitkLinear)
    registration.SetInitialTransform(composite, inPlace=True)
    registration.Execute(fixed, moving_img)

    # Read the refined transform back as a fixed->moving map on two probe points, then invert per axis.
    probes = np.array([[0.0, 0.0], [1.0, 1.0]])
    mapped = np.array([composite.TransformPoint((float(x), float(y)))[::-1] for y, x in probes])
    moving_scale = mapped[1] - mapped[0]
    if np.any(moving_scale <= 0):
        return initial
    scale = 1.0 / moving_scale
    shift = -mapped[0] * scale
    return AxisAlignedAffine(scale=tuple(float(s) for s in scale), shift=tuple(float(s) for s in shift))


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0
