"""``read_mammogram``: one DICOM, PNG or NIfTI mammogram in, a normalised chest-wall-left image out.

The steps and their order are the geometry contract of ``docs/architecture.md`` (decode, flip, crop,
resample; ``custom.mammography.data.geometry`` inverts them). For speed, the image is block-averaged by the integer
part of the downsampling factor right after decoding; segmentation, normalisation and the remaining
fractional resampling all run on that small image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from PIL import Image
from scipy import ndimage

from custom.mammography.data.dicom import DecodedImage, read_dicom, read_header
from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.files import checked_file
from custom.mammography.data.identity import LATERALITY_WORDS, VIEW_WORDS, dicom_hints, is_cbis_ddsm, resolve
from custom.mammography.data.segmentation import block_mean, breast_mask, chest_wall_side
from custom.mammography.data.spacing import spacing_assumption

# Breast-region percentiles mapped to 0 and 1: vendors' grey scales then look alike.
NORMALISE_PERCENTILES = (1.0, 99.5)
# Whole-image percentiles of the provisional normalisation used for segmentation.
ROUGH_PERCENTILES = (0.5, 99.5)
# Margin around the breast bounding box, as a fraction of the image's longer side.
CROP_MARGIN = 0.01
NIFTI_UNIT_MM = {"mm": 1.0, "meter": 1000.0, "micron": 0.001}


def read_mammogram(
    path: str | Path,
    *,
    spacing: float | None = None,
    downsample: float | None = None,
    assumed_spacing: float | None = None,
    laterality: str | None = None,
    view: str | None = None,
    segment: bool = True,
    crop: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Read one mammogram: float32 ``(H, W)`` image in [0, 1], chest wall on the left, and its meta.

    ``spacing`` (mm per output pixel) takes priority over ``downsample`` (factor, may be fractional);
    with neither the scale is 1. A file that states no pixel spacing, asked for a ``spacing`` without a
    ``downsample``, is read at ``assumed_spacing`` (mm) or, without one, at the spacing its archive implies
    (:mod:`custom.mammography.data.spacing`); ``meta["assumed_pixel_spacing"]`` and ``meta["spacing_source"]``
    then say so, for the caller's warning. ``segment=False`` skips the breast mask (all pixels count as breast,
    nothing is blanked) and with it the crop; the chest-wall side is still found from a mask. With
    ``segment=True`` pixels outside the breast are set to 0, which removes film labels and borders.
    The input file is only read. Unusable input raises ``MammogramReadError`` naming the file.
    """
    path = checked_file(path)
    laterality, view = _argument(laterality, LATERALITY_WORDS, "laterality"), _argument(view, VIEW_WORDS, "view")
    decoded = _decode(path, laterality, view)
    _check_not_constant(path, decoded.pixels)
    assumption = None
    if spacing is not None and decoded.pixel_spacing is None and downsample is None:
        archive = decoded.archive or ("CBIS-DDSM" if is_cbis_ddsm(path) else None)
        assumption = spacing_assumption(archive, assumed_spacing)
    scale = _output_scale(decoded.pixel_spacing if assumption is None else assumption.spacing, spacing, downsample)
    factor = max(1, int(np.floor(1.0 / scale + 1e-6)))

    reduced = block_mean(decoded.pixels, factor)
    mask = breast_mask(_rough(reduced))
    flipped = chest_wall_side(mask) == "right"
    if flipped and decoded.pixels.shape[1] % factor == 0:  # the blocks line up in the mirror image too
        reduced, mask = reduced[:, ::-1], mask[:, ::-1]
    elif flipped:  # reduce again so that the blocks start at the flipped image's column 0
        reduced = block_mean(decoded.pixels[:, ::-1], factor)
        mask = breast_mask(_rough(reduced))
    if not segment:
        mask = np.ones_like(mask)

    rows, cols = _crop_slices(mask if crop else np.ones_like(mask), CROP_MARGIN)
    image, mask = _normalise(reduced[rows, cols], mask[rows, cols]), mask[rows, cols]
    residual = scale * factor
    if abs(residual - 1.0) > 1e-6:
        image = np.clip(_resample(image, residual), 0.0, 1.0)
        mask = _resample(mask.astype(np.float32), residual) > 0.5

    height, width = decoded.pixels.shape
    crop_box = (
        int(rows.start * factor),
        int(cols.start * factor),
        int(min(rows.stop * factor, height)),
        int(min(cols.stop * factor, width)),
    )
    meta = {
        "path": str(path),
        "laterality": decoded.laterality,
        "view": decoded.view,
        "original_shape": (height, width),
        "pixel_spacing": decoded.pixel_spacing,
        "presentation_intent": decoded.presentation_intent,
        "flipped": flipped,
        "crop_box": crop_box,
        "scale": scale,
        "mask": mask,
        "photometric": decoded.photometric,
        "patient_id": decoded.patient_id,
        "assumed_pixel_spacing": assumption.spacing if assumption else None,
        "spacing_source": assumption.source if assumption else None,
    }
    return image.astype(np.float32, copy=False), meta


def identify(path: str | Path, *, laterality: str | None = None, view: str | None = None) -> tuple[str, str]:
    """(laterality, view) of an image file from its header and names only, without decoding pixels.

    The same sources and contradiction rules as ``read_mammogram`` (``custom.mammography.data.identity``); given values
    are checked against the file.
    """
    path = checked_file(path)
    if _file_type(path) == "dicom":
        return resolve(path, dicom_hints(read_header(path)), laterality=laterality, view=view)
    return resolve(path, None, laterality=laterality, view=view)


def _decode(path: Path, laterality: str | None, view: str | None) -> DecodedImage:
    """Dispatch on the file type (see ``_file_type``)."""
    kind = _file_type(path)
    if kind == "png":
        return _decode_plain(path, _read_png(path), None, laterality, view)
    if kind == "nifti":
        return _decode_plain(path, *_read_nifti(path), laterality, view)
    return read_dicom(path, laterality=laterality, view=view)


def _file_type(path: Path) -> str:
    """PNG and NIfTI by suffix, DICOM by suffix or by its "DICM" magic."""
    name = path.name.lower()
    if name.endswith(".png"):
        return "png"
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith((".dcm", ".dicom")) or _has_dicom_magic(path):
        return "dicom"
    raise MammogramReadError(path, "not a DICOM, PNG or NIfTI file")


def _decode_plain(
    path: Path, pixels: np.ndarray, spacing: float | None, laterality: str | None, view: str | None
) -> DecodedImage:
    """Wrap PNG/NIfTI pixels; these formats carry no laterality/view, so they come from args or names."""
    laterality, view = resolve(path, None, laterality=laterality, view=view)
    finite = np.isfinite(pixels)
    if not finite.all():
        raise MammogramReadError(path, f"{int((~finite).sum())} of {finite.size} pixels are NaN or infinite")
    return DecodedImage(
        pixels=pixels,
        laterality=laterality,
        view=view,
        pixel_spacing=spacing,
        presentation_intent=None,
        photometric="MONOCHROME2",
    )


def _read_png(path: Path) -> np.ndarray:
    """8- or 16-bit greyscale PNG as float32. Grey stored as RGB (or a grey palette) is taken as grey; a PNG
    whose colour channels differ is refused: a mammogram is grey, and its colour (annotations, a screenshot's
    overlay) would become tissue."""
    try:
        with Image.open(path) as png:
            if png.mode in ("L", "I", "I;16", "I;16B", "I;16L"):
                return np.asarray(png, dtype=np.float32)
            if png.mode in ("1", "LA", "La"):
                return np.asarray(png.convert("L"), dtype=np.float32)
            rgb = np.asarray(png.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's errors for unreadable/truncated images
        raise MammogramReadError(path, f"not a readable PNG image ({exc})") from exc
    coloured = (rgb[..., 0] != rgb[..., 1]) | (rgb[..., 0] != rgb[..., 2])
    if coloured.any():
        raise MammogramReadError(path, f"a colour image ({int(coloured.sum())} of its {coloured.size} pixels are not "
                                       "grey): a mammogram is grey; export it as a greyscale PNG")
    return rgb[..., 0].astype(np.float32)


def _check_not_constant(path: Path, pixels: np.ndarray) -> None:
    """An image whose pixels all hold one value (an all-zero export, a blank frame) shows nothing to read."""
    low, high = float(pixels.min()), float(pixels.max())
    if low == high:
        raise MammogramReadError(path, f"constant image: every pixel is {low:g}, there is nothing to read")


def _read_nifti(path: Path) -> tuple[np.ndarray, float | None]:
    """2-D NIfTI image as float32 rows x columns, and its pixel spacing in mm when the units are known.

    NIfTI (and nibabel) index voxels as ``(x, y)``, i.e. column first, so the slice is transposed to put
    image rows first. The affine is not applied: vertical orientation stays as stored.
    """
    try:
        nifti = nib.load(path)
        data = np.squeeze(np.asarray(nifti.dataobj))
    except Exception as exc:  # nibabel raises several types for damaged or foreign files
        raise MammogramReadError(path, f"not a readable NIfTI image ({exc})") from exc
    if data.ndim != 2:
        raise MammogramReadError(path, f"expected a 2-D NIfTI image, got shape {data.shape}")
    unit = NIFTI_UNIT_MM.get(nifti.header.get_xyzt_units()[0])
    zooms = nifti.header.get_zooms()[:2]
    spacing = float(np.mean(zooms)) * unit if unit and min(zooms) > 0 else None
    return np.ascontiguousarray(data.T, dtype=np.float32), spacing


def _has_dicom_magic(path: Path) -> bool:
    """True when bytes 128-131 are "DICM" (files named by UID often have no or a numeric suffix)."""
    with path.open("rb") as handle:
        return handle.read(132)[128:] == b"DICM"


def _argument(value: str | None, words: dict[str, str], name: str) -> str | None:
    """Normalise a laterality/view argument ("left" -> "L", "ml" -> "MLO"); None stays None."""
    if value is None:
        return None
    if value.strip().upper() not in words:
        raise ValueError(f"{name}={value!r} is not one of {sorted(words)}")
    return words[value.strip().upper()]


def _output_scale(input_spacing: float | None, spacing: float | None, downsample: float | None) -> float:
    """Output pixels per original pixel: from ``spacing`` when the input's spacing is known (stated or assumed),
    else ``downsample``."""
    if spacing is not None:
        if spacing <= 0:
            raise ValueError(f"spacing must be positive, got {spacing}")
        if input_spacing is not None:
            return input_spacing / spacing
    if downsample is not None:
        if downsample <= 0:
            raise ValueError(f"downsample must be positive, got {downsample}")
        return 1.0 / downsample
    return 1.0


def _rough(image: np.ndarray) -> np.ndarray:
    """Provisional [0, 1] scaling by whole-image percentiles, good enough to segment."""
    low, high = np.percentile(image, ROUGH_PERCENTILES)
    return _stretch(image, low, high)


def _normalise(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Map the breast's NORMALISE_PERCENTILES to [0, 1] and zero everything outside the breast."""
    values = image[mask] if mask.any() else image
    low, high = np.percentile(values, NORMALISE_PERCENTILES)
    out = _stretch(image, low, high)
    out[~mask] = 0.0
    return out


def _stretch(image: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip((image - low) / max(float(high - low), 1e-6), 0.0, 1.0).astype(np.float32)


def _crop_slices(mask: np.ndarray, margin: float) -> tuple[slice, slice]:
    """Bounding box of ``mask`` grown by ``margin`` of the longer side (clipped); whole image if empty."""
    if not mask.any():
        return slice(0, mask.shape[0]), slice(0, mask.shape[1])
    pad = max(1, int(round(margin * max(mask.shape))))
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (
        slice(max(0, rows[0] - pad), min(mask.shape[0], rows[-1] + 1 + pad)),
        slice(max(0, cols[0] - pad), min(mask.shape[1], cols[-1] + 1 + pad)),
    )


def _resample(image: np.ndarray, scale: float) -> np.ndarray:
    """Resample by exactly ``scale`` with the grid anchored at the corner (output x = input x * scale).

    Unlike fitting to a rounded output shape, this keeps the geometry contract exact; downsampling is
    anti-aliased with the same Gaussian as ``skimage.transform.resize``.
    """
    shape = tuple(max(1, int(round(n * scale))) for n in image.shape)
    if scale < 1:
        image = ndimage.gaussian_filter(image, (1.0 / scale - 1.0) / 2.0, mode="nearest")
    offset = 0.5 / scale - 0.5  # output pixel centre o + 0.5 <- input position (o + 0.5) / scale
    matrix = [1.0 / scale, 1.0 / scale]
    return ndimage.affine_transform(image, matrix, offset=offset, output_shape=shape, order=1, mode="nearest")
