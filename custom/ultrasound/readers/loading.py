"""The pixels of one ultrasound image or mask, as training wants them: a grey image of one channel, one binary mask
per image however many lesion masks the data set stores, a label map as integers.

Arrays come rows first: PNG and JPEG as Pillow gives them, MetaImage (``.mhd``) as SimpleITK gives it, NIfTI
transposed, since its first axis is x, the columns (CAMUS's ``.nii.gz`` hold (width, height) arrays).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

# A pixel whose channels differ by more than this many grey levels is coloured; JPEG's chroma error on grey
# content stays well below it.
COLOUR_LEVELS = 24
# An image with more than this share of coloured pixels is reported as a colour image: a Doppler box or a
# coloured annotation covers at least this much, stray JPEG pixels do not.
COLOUR_SHARE = 0.001
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as Pillow's own conversion to grey
_PIL_MODES_KEPT = {"L", "I", "I;16", "I;16B", "I;16L", "F", "RGB"}


def read_array(path: str | Path) -> np.ndarray:
    """The stored values of a 2-D image, (H, W) or (H, W, 3), rows first; alpha dropped, palettes expanded.
    ``FileNotFoundError`` for a missing file, ``ValueError`` naming the file for one that cannot be decoded or
    holds more than one 2-D image."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    name = path.name.lower()
    try:
        if name.endswith((".nii.gz", ".nii")):
            import nibabel

            data = np.squeeze(np.asanyarray(nibabel.load(path).dataobj)).T
        elif name.endswith(".mhd"):
            import SimpleITK as sitk  # noqa: N813 - the name SimpleITK's own documentation uses

            data = np.squeeze(sitk.GetArrayFromImage(sitk.ReadImage(str(path))))
        else:
            with Image.open(path) as image:
                data = np.asarray(_kept_mode(image))
    except Exception as error:  # each decoder raises its own types for a broken file
        raise ValueError(f"{path}: cannot be decoded ({type(error).__name__}: {error})") from error
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[2] != 3):
        raise ValueError(f"{path}: holds an array of shape {data.shape}, not one 2-D image")
    return data


def _kept_mode(image: Image.Image) -> Image.Image:
    if image.mode in ("1", "LA", "La"):
        return image.convert("L")
    return image if image.mode in _PIL_MODES_KEPT else image.convert("RGB")


def load_grey(path: str | Path) -> np.ndarray:
    """The image as float32 (H, W) in its stored grey levels. RGB that is grey in fact (BUSI's PNGs, video frames)
    becomes its one channel exactly; a truly colour image is converted by luma with a warning naming the file,
    since its colour (a Doppler box, annotations) then stays in as grey."""
    data = read_array(path)
    if data.ndim == 3:
        data = _grey(data, path)
    return data.astype(np.float32)


def _grey(rgb: np.ndarray, path) -> np.ndarray:
    spread = rgb.max(axis=2).astype(np.int64) - rgb.min(axis=2)
    if not spread.any():
        return rgb[..., 0]
    share = float((spread > COLOUR_LEVELS).mean())
    if share > COLOUR_SHARE:
        logger.warning("%s: a colour image (%.2f%% of its pixels differ by more than %d levels between channels): "
                       "converted to grey by luma", path, 100 * share, COLOUR_LEVELS)
    return rgb @ _LUMA


def load_mask(path: str | Path) -> np.ndarray:
    """A binary mask, bool (H, W): every pixel not zero in some channel. BUSI and UDIAT masks are 0/255 PNGs,
    CAMUS's are label maps 0-3; none is stored lossily, so any value above zero is a structure."""
    data = read_array(path)
    return (data != 0).any(axis=2) if data.ndim == 3 else data != 0


def load_label_map(path: str | Path) -> np.ndarray:
    """An integer label map (H, W), as CAMUS's ``_gt`` files (1 LV endocardium, 2 myocardium, 3 left atrium)."""
    data = read_array(path)
    if data.ndim != 2 or not np.array_equal(data, np.round(data)):
        raise ValueError(f"{path}: not a label map (channels or non-integer values)")
    return data.astype(np.int64)


def load_merged_mask(paths: Sequence[str | Path], shape: Sequence[int] | None = None) -> np.ndarray:
    """The masks of one image merged into one binary uint8 (H, W) mask, a pixel set where any mask sets it.

    ``shape`` is the image's (H, W): every mask must have it (``ValueError`` naming the mask that does not),
    and an image without masks (BUSI's normal images have empty ones, other sets none) gets zeros of it.
    """
    expected = None if shape is None else tuple(int(n) for n in shape)
    if not paths:
        if expected is None:
            raise ValueError("no mask to merge and no image shape to make an empty mask of")
        return np.zeros(expected, dtype=np.uint8)
    merged = None
    for path in paths:
        mask = load_mask(path)
        expected = expected or mask.shape
        if mask.shape != expected:
            raise ValueError(f"{path}: mask of {mask.shape[0]}x{mask.shape[1]} pixels for an image of "
                             f"{expected[0]}x{expected[1]}")
        merged = mask if merged is None else merged | mask
    return merged.astype(np.uint8)
