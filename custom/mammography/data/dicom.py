"""Decode one DICOM mammogram into display values and resolve its laterality, view and spacing.

Real screening DICOMs differ by vendor and archive: the pixels may be compressed, carry garbage above
``BitsStored``, need a modality and VOI LUT, or be stored inverted (``MONOCHROME1``); laterality and view
sit in different tags or only in the file name (``custom.mammography.data.identity``), and archives hold objects that are
no mammogram (masks, crops, reports, tomosynthesis). This module hides all of that behind ``read_dicom``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

try:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut
except ImportError:  # pydicom 2, which MONAI Label 0.8 pins: the same functions, where they lived then
    from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut

from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.files import checked_file, looks_like
from custom.mammography.data.identity import dicom_hints, is_cbis_ddsm, patient_of, resolve, shared_group_item

PRESENTATION_INTENTS = ("FOR PRESENTATION", "FOR PROCESSING")
# Larger images are refused before decoding: 60 Mpx (e.g. 8,000 x 7,500) is above any mammography detector
# or film digitiser, and its decoding alone would need about 1 GiB.
MAX_PIXELS = 60_000_000
PRESENTATION_STATE_SOP = "1.2.840.10008.5.1.4.1.1.11."
STRUCTURED_REPORT_SOP = "1.2.840.10008.5.1.4.1.1.88."
SECONDARY_CAPTURE_SOP = "1.2.840.10008.5.1.4.1.1.7"
# CBIS-DDSM's series descriptions of its lesion masks and crops, which sit next to the mammograms
NOT_MAMMOGRAM_SERIES = ("roi mask", "cropped")


@dataclass(frozen=True)
class DecodedImage:
    """One decoded image file and what the reader needs from its metadata (PNG and NIfTI use it too).

    ``pixels`` are float32 in the original geometry, larger = denser, in arbitrary units.
    """

    pixels: np.ndarray
    laterality: str
    view: str
    pixel_spacing: float | None
    presentation_intent: str | None
    photometric: str
    patient_id: str | None = None  # the patient (CBIS-DDSM: "P_00001"), None for formats without tags
    archive: str | None = None  # "CBIS-DDSM" when recognised, which sets the spacing assumed for files without one


def read_dicom(path: str | Path, *, laterality: str | None = None, view: str | None = None) -> DecodedImage:
    """Read and decode ``path``; a given ``laterality``/``view`` names what the file does not say, and must agree
    with what it does (``custom.mammography.data.identity``).

    Raises ``MammogramReadError`` naming the file for anything that makes it unusable.
    """
    path = Path(path)
    ds = read_header(path, pixels=True)
    pixels = decode_pixels(ds, path)  # first: a damaged file is named as such, not for its missing tags
    laterality, view = resolve(path, dicom_hints(ds), laterality=laterality, view=view)
    intent = str(ds.get("PresentationIntentType", "")).strip().upper()
    return DecodedImage(
        pixels=pixels,
        laterality=laterality,
        view=view,
        pixel_spacing=pixel_spacing(ds),
        presentation_intent=intent if intent in PRESENTATION_INTENTS else None,
        photometric=str(ds.get("PhotometricInterpretation", "")).strip(),
        patient_id=patient_of(ds),
        archive="CBIS-DDSM" if is_cbis_ddsm(path, ds) else None,
    )


def read_header(path: Path, *, pixels: bool = False) -> Dataset:
    """The DICOM dataset of ``path`` (without pixel data unless ``pixels``), refused when it is no mammogram.

    Presentation states, structured reports, CBIS-DDSM ROI masks and lesion crops, and secondary captures of
    another modality (screenshots, scanned forms) are named as what they are rather than failing later.
    """
    checked_file(path)
    try:
        ds = pydicom.dcmread(path, force=False, stop_before_pixels=not pixels)
    except Exception as exc:  # pydicom raises many types for non-DICOM, corrupt or truncated files
        kind = looks_like(path)
        problem = f"not a DICOM file ({kind})" if kind else f"not a readable DICOM file ({exc})"
        raise MammogramReadError(path, problem) from exc
    problem = not_a_mammogram(ds)
    if problem:
        raise MammogramReadError(path, problem)
    return ds


def not_a_mammogram(ds: Dataset) -> str | None:
    """Why this DICOM object is not a single mammogram, or None when it may be one."""
    sop_class = str(ds.get("SOPClassUID", ""))
    description = str(ds.get("SeriesDescription", "")).strip()
    modality = str(ds.get("Modality", "")).strip().upper()
    if sop_class.startswith(PRESENTATION_STATE_SOP):
        return "a presentation state (display settings for other images), not an image"
    if sop_class.startswith(STRUCTURED_REPORT_SOP):
        return "a structured report, not an image"
    if any(word in description.lower() for word in NOT_MAMMOGRAM_SERIES):
        return f"series {description!r} holds lesion masks or crops (CBIS-DDSM), not a full mammogram"
    if sop_class.startswith(SECONDARY_CAPTURE_SOP) and modality not in ("MG", ""):
        return f"a secondary capture of modality {modality!r} (a screenshot or scanned document), not a mammogram"
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        return f"a multi-frame object ({frames} frames, e.g. tomosynthesis); expected one 2-D mammogram"
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows * columns > MAX_PIXELS:
        return f"{rows} x {columns} pixels is larger than any mammogram (limit {MAX_PIXELS:,} pixels)"
    return None


def decode_pixels(ds: Dataset, path: str | Path) -> np.ndarray:
    """Stored pixels -> float32 display values (modality LUT, then VOI LUT/window), bright = dense.

    The LUTs are applied once to every possible stored value and the image is then looked up in that
    table: exact, and much faster on 16-bit mammograms than applying them to every pixel.
    """
    if "PixelData" not in ds:
        raise MammogramReadError(path, "no pixel data (no PixelData element; a truncated file, or no image)")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise MammogramReadError(path, f"photometric interpretation {photometric!r} is not greyscale")
    bits_stored = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    if not 1 <= bits_stored <= 16:
        raise MammogramReadError(path, f"BitsStored {bits_stored} is not supported (1 to 16)")
    try:
        stored = ds.pixel_array
    except Exception as exc:  # truncated data, unknown transfer syntax, failed decoder
        raise MammogramReadError(path, f"pixel data cannot be decoded ({exc})") from exc
    if stored.ndim != 2:
        raise MammogramReadError(path, f"expected one 2-D frame, pixel data has shape {stored.shape}")
    codes = stored_codes(stored, bits_stored)
    table = display_table(ds, bits_stored)
    return table[codes]


def stored_codes(stored: np.ndarray, bits_stored: int) -> np.ndarray:
    """The unsigned ``BitsStored``-bit codes of the stored values: bits above ``BitsStored`` are dropped.

    Some archives leave overlay or garbage bits above ``BitsStored``; for signed data the two's
    complement code keeps the sign in its top stored bit, which ``display_table`` interprets.
    """
    unsigned = stored.view(f"u{stored.dtype.itemsize}")
    return unsigned & np.array((1 << bits_stored) - 1, dtype=unsigned.dtype)


def display_table(ds: Dataset, bits_stored: int) -> np.ndarray:
    """float32 display value for every stored code, with ``MONOCHROME1`` turned so bright = dense.

    VOI: the first VOI LUT or window when several exist; none: the modality values unchanged, i.e. the
    full stored range is kept and left to the reader's normalisation.

    A ``FOR PROCESSING`` image stored as ``MONOCHROME1`` holds raw detector exposure, which falls
    exponentially with attenuation; its display value is ``-log(exposure)`` (attenuation), so that it
    looks like a presentation image after normalisation instead of a washed-out one.
    """
    codes = np.arange(1 << bits_stored, dtype=np.int64)
    if int(ds.get("PixelRepresentation", 0)) == 1:
        codes = np.where(codes >= 1 << (bits_stored - 1), codes - (1 << bits_stored), codes)
    modality = apply_modality_lut(codes, ds).astype(np.float64)
    monochrome1 = str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1"
    if monochrome1 and str(ds.get("PresentationIntentType", "")).strip().upper() == "FOR PROCESSING":
        span = max(modality.max() - modality.min(), 1.0)
        return (-np.log(np.clip((modality - modality.min()) / span, 1e-4, 1.0))).astype(np.float32)
    values = apply_voi_lut(modality, ds, index=0).astype(np.float64)
    if monochrome1:
        values = values.max() + values.min() - values
    return values.astype(np.float32)


def pixel_spacing(ds: Dataset) -> float | None:
    """mm per pixel from PixelSpacing, ImagerPixelSpacing or the shared pixel measures; None if unknown.

    Mammography pixels are square; should row and column spacing differ, their mean is returned.
    """
    measures = shared_group_item(ds, "PixelMeasuresSequence")
    for source in (ds,) if measures is None else (ds, measures):
        for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
            value = source.get(keyword)
            if value and min(float(v) for v in value) > 0:
                return float(np.mean([float(v) for v in value]))
    return None
