"""Decode one DICOM mammogram into display values and resolve its laterality, view and spacing.

Real screening DICOMs differ by vendor and archive: the pixels may be compressed, carry garbage above
``BitsStored``, need a modality and VOI LUT, or be stored inverted (``MONOCHROME1``); laterality and view
sit in different tags or only in the file name. This module hides all of that behind ``read_dicom``.
The file-name conventions (``laterality_from_path`` / ``view_from_path``) are shared with the PNG and
NIfTI readers, which have no tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from custom.data.errors import MammogramReadError

LATERALITY_WORDS = {"L": "L", "LEFT": "L", "R": "R", "RIGHT": "R"}
# "ML" is INbreast's name for the medio-lateral oblique view.
VIEW_WORDS = {"CC": "CC", "MLO": "MLO", "ML": "MLO"}
# SNOMED-RT and SNOMED CT codes of the two screening views (DICOM CID 4014).
VIEW_CODES = {"R-10242": "CC", "399162004": "CC", "R-10226": "MLO", "399368009": "MLO"}
VIEW_MEANINGS = {"craniocaudal": "CC", "mediolateraloblique": "MLO"}
# How many folders above the file are searched: CBIS-DDSM keeps "..._LEFT_CC" three levels up.
NAME_SEARCH_PARENTS = 3
PRESENTATION_INTENTS = ("FOR PRESENTATION", "FOR PROCESSING")
LATERALITY_SOURCES = "ImageLaterality/Laterality/FrameLaterality/PatientOrientation/SeriesDescription"
VIEW_SOURCES = "ViewPosition/ViewCodeSequence/PatientOrientation/SeriesDescription"


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


def read_dicom(path: str | Path, *, laterality: str | None = None, view: str | None = None) -> DecodedImage:
    """Read and decode ``path``; ``laterality``/``view`` override the tags and file name when given.

    Raises ``MammogramReadError`` naming the file for anything that makes it unusable.
    """
    path = Path(path)
    try:
        ds = pydicom.dcmread(path, force=False)
    except Exception as exc:  # pydicom raises many types for non-DICOM, corrupt or truncated files
        raise MammogramReadError(path, f"not a readable DICOM file ({exc})") from exc
    laterality = laterality or laterality_from_tags(ds) or laterality_from_path(path)
    if laterality is None:
        raise MammogramReadError(path, f"laterality not found in tags {LATERALITY_SOURCES} or file name")
    view = view or view_from_tags(ds) or view_from_path(path)
    if view is None:
        raise MammogramReadError(path, f"view not found in tags {VIEW_SOURCES} or file name")
    intent = str(ds.get("PresentationIntentType", "")).strip().upper()
    return DecodedImage(
        pixels=decode_pixels(ds, path),
        laterality=laterality,
        view=view,
        pixel_spacing=pixel_spacing(ds),
        presentation_intent=intent if intent in PRESENTATION_INTENTS else None,
        photometric=str(ds.get("PhotometricInterpretation", "")).strip(),
    )


def decode_pixels(ds: Dataset, path: str | Path) -> np.ndarray:
    """Stored pixels -> float32 display values (modality LUT, then VOI LUT/window), bright = dense.

    The LUTs are applied once to every possible stored value and the image is then looked up in that
    table: exact, and much faster on 16-bit mammograms than applying them to every pixel.
    """
    if "PixelData" not in ds:
        raise MammogramReadError(path, "no pixel data (PixelData element missing)")
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
    measures = _shared_group_item(ds, "PixelMeasuresSequence")
    for source in (ds,) if measures is None else (ds, measures):
        for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
            value = source.get(keyword)
            if value and min(float(v) for v in value) > 0:
                return float(np.mean([float(v) for v in value]))
    return None


def laterality_from_tags(ds: Dataset) -> str | None:
    """"L"/"R" from ImageLaterality, Laterality, FrameLaterality, PatientOrientation, SeriesDescription."""
    anatomy = _shared_group_item(ds, "FrameAnatomySequence")
    for value in (
        ds.get("ImageLaterality"),
        ds.get("Laterality"),
        anatomy.get("FrameLaterality") if anatomy is not None else None,
    ):
        text = str(value or "").strip().upper()
        if text in ("L", "R"):
            return text
    return _orientation_hints(ds)[0] or parse_name(str(ds.get("SeriesDescription", "")))[0]


def view_from_tags(ds: Dataset) -> str | None:
    """"CC"/"MLO" from ViewPosition, ViewCodeSequence, PatientOrientation, SeriesDescription."""
    position = str(ds.get("ViewPosition", "")).strip().upper()
    if position in ("CC", "MLO"):
        return position
    for item in ds.get("ViewCodeSequence", []):
        code = str(item.get("CodeValue", "")).strip()
        meaning = re.sub(r"[^a-z]", "", str(item.get("CodeMeaning", "")).lower())
        found = VIEW_CODES.get(code) or VIEW_MEANINGS.get(meaning)
        if found:
            return found
    return _orientation_hints(ds)[1] or parse_name(str(ds.get("SeriesDescription", "")))[1]


def laterality_from_path(path: str | Path) -> str | None:
    """Laterality from the file name, else from the nearest of its parent folders that names one."""
    return _search_path(Path(path), 0)


def view_from_path(path: str | Path) -> str | None:
    """View from the file name, else from the nearest of its parent folders that names one."""
    return _search_path(Path(path), 1)


def parse_name(text: str) -> tuple[str | None, str | None]:
    """(laterality, view) named by the tokens of ``text``; each None when absent or contradictory.

    Tokens are runs of letters/digits: "L", "LEFT", "CC", "MLO", "ML" and joined forms such as "RMLO".
    """
    lateralities: set[str] = set()
    views: set[str] = set()
    for token in re.split(r"[^A-Z0-9]+", text.upper()):
        if token in LATERALITY_WORDS:
            lateralities.add(LATERALITY_WORDS[token])
        elif token in VIEW_WORDS:
            views.add(VIEW_WORDS[token])
        elif token[:1] in ("L", "R") and token[1:] in VIEW_WORDS:
            lateralities.add(token[0])
            views.add(VIEW_WORDS[token[1:]])
    return (
        lateralities.pop() if len(lateralities) == 1 else None,
        views.pop() if len(views) == 1 else None,
    )


def _search_path(path: Path, index: int) -> str | None:
    """First (laterality, view)[index] found in the file name or up to NAME_SEARCH_PARENTS folders above."""
    for part in [path.name, *(parent.name for parent in path.parents[:NAME_SEARCH_PARENTS])]:
        found = parse_name(part)[index]
        if found:
            return found
    return None


def _orientation_hints(ds: Dataset) -> tuple[str | None, str | None]:
    """(laterality, view) implied by PatientOrientation in the standard mammography orientation.

    Rows run towards anterior or posterior (A/P); the column direction names the patient side the image
    bottom points to: towards the patient's right on a left breast, so "R" -> "L". A foot/head component
    (e.g. "A\\FR") means an oblique view, none (e.g. "A\\R") a cranio-caudal one.
    """
    orientation = [str(v).strip().upper() for v in (ds.get("PatientOrientation") or [])]
    if len(orientation) != 2 or orientation[0] not in ("A", "P") or not orientation[1]:
        return None, None
    column = orientation[1]
    sides = set(column) & {"L", "R"}
    if len(sides) != 1 or not set(column) <= {"L", "R", "F", "H"}:
        return None, None
    laterality = "L" if sides == {"R"} else "R"
    return laterality, "MLO" if set(column) & {"F", "H"} else "CC"


def _shared_group_item(ds: Dataset, sequence: str) -> Dataset | None:
    """First item of ``sequence`` inside SharedFunctionalGroupsSequence (enhanced MG objects), if any."""
    groups = ds.get("SharedFunctionalGroupsSequence")
    if not groups:
        return None
    items = groups[0].get(sequence)
    return items[0] if items else None
