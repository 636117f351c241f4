"""Synthetic mammograms for tests: a textured half-ellipse breast, film labels, scanner borders, and
DICOM files that store it the many ways real archives do (see docs method section 3)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    DigitalMammographyXRayImageStorageForPresentation,
    DigitalMammographyXRayImageStorageForProcessing,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)

BACKGROUND = 0.03
# Standard mammography PatientOrientation (row direction, column direction) per laterality and view.
PATIENT_ORIENTATION = {("L", "CC"): "A\\R", ("R", "CC"): "P\\L", ("L", "MLO"): "A\\FR", ("R", "MLO"): "P\\FL"}
VIEW_CODES = {"CC": ("399162004", "SCT", "cranio-caudal"), "MLO": ("399368009", "SCT", "medio-lateral oblique")}


def synthetic_breast(
    shape: tuple[int, int] = (256, 200), *, chest_wall: str = "left", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(image in [0, 1], true breast mask)``: a half-ellipse on the chest-wall edge, dark background.

    Tissue is 1/f^3 power-law texture (the spectrum of real parenchyma); intensity falls off over the
    outer tenth of the ellipse like the thinning breast edge.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    radius = np.hypot((rows - shape[0] / 2) / (0.42 * shape[0]), cols / (0.7 * shape[1]))
    mask = radius < 1.0
    thickness = np.clip((1.0 - radius) / 0.1, 0.0, 1.0)
    image = BACKGROUND + 0.01 * rng.standard_normal(shape) + thickness * (0.35 + 0.5 * power_law_noise(shape, rng))
    image = np.clip(image, 0.0, 1.0)
    if chest_wall == "right":
        return image[:, ::-1].copy(), mask[:, ::-1].copy()
    return image, mask


def power_law_noise(shape: tuple[int, int], rng: np.random.Generator, beta: float = 3.0) -> np.ndarray:
    """Noise with power spectrum 1/f^beta, scaled to [0, 1]."""
    fy, fx = np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.rfftfreq(shape[1]), indexing="ij")
    frequency = np.hypot(fy, fx)
    frequency[0, 0] = 1.0  # the mean, zeroed below
    amplitude = frequency ** (-beta / 2)
    amplitude[0, 0] = 0.0
    phase = np.exp(2j * np.pi * rng.random(amplitude.shape))
    noise = np.fft.irfft2(amplitude * phase, s=shape)
    return (noise - noise.min()) / (noise.max() - noise.min())


def add_film_label(image: np.ndarray, *, corner: str = "bottom-right") -> np.ndarray:
    """Copy of ``image`` with a bright label (white rectangle with dark 'text' bars) near a nipple-side corner.

    Returns the copy; the label's rectangle is ``label_box(image.shape, corner)``.
    """
    out = image.copy()
    y0, x0, y1, x1 = label_box(image.shape, corner)
    out[y0:y1, x0:x1] = 0.97
    out[y0 + 3 : y1 - 3 : 4, x0 + 3 : x1 - 3] = 0.4  # rows of "text"
    return out


def label_box(shape: tuple[int, int], corner: str = "bottom-right") -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of the film label: clear of the half-ellipse breast whichever side it is on."""
    height, width = shape
    top = 0.86 if corner.startswith("bottom") else 0.04
    y0, y1 = int(top * height), int((top + 0.1) * height)
    x0, x1 = (int(0.6 * width), int(0.9 * width)) if corner.endswith("right") else (int(0.1 * width), int(0.4 * width))
    return y0, x0, y1, x1


def add_border(image: np.ndarray, *, width: int = 8, value: float = 0.97, edges: str = "tblr") -> np.ndarray:
    """Copy of ``image`` with a uniform frame ``width`` pixels deep along the given edges (t, b, l, r),
    as digitised film has where the film ends."""
    out = image.copy()
    if "t" in edges:
        out[:width] = value
    if "b" in edges:
        out[-width:] = value
    if "l" in edges:
        out[:, :width] = value
    if "r" in edges:
        out[:, -width:] = value
    return out


def border_free(mask: np.ndarray, *, width: int, edges: str = "tblr") -> np.ndarray:
    """The part of a true mask that a border of ``add_border`` leaves visible."""
    return add_border(mask.astype(float), width=width, value=0.0, edges=edges) > 0.5


def write_mammogram_dicom(
    path: str | Path,
    image: np.ndarray,
    *,
    laterality: str = "L",
    view: str = "CC",
    laterality_in: str | None = "ImageLaterality",
    view_in: str | None = "ViewPosition",
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    signed: bool = False,
    garbage_high_bits: bool = False,
    rescale: tuple[float, float] | None = None,
    window: tuple[float | list[float], float | list[float]] | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    presentation_intent: str = "FOR PRESENTATION",
    pixel_spacing: float | None = 0.1,
) -> Path:
    """Write ``image`` (float in [0, 1]) as a mammography DICOM and return its path.

    The modality value is ``image`` spread over the ``bits_stored`` range (shifted to be centred on 0
    when ``signed``); ``rescale=(slope, intercept)`` stores it through that modality rescale,
    ``MONOCHROME1`` stores it inverted, ``garbage_high_bits`` fills the bits above ``bits_stored``;
    ``window=(centre, width)``, each a number or a list for several windows.
    ``laterality_in``/``view_in`` name the one place the laterality/view is written: a tag keyword,
    "FrameLaterality", "ViewCodeSequence", "ViewCodeMeaning" (code meaning only), "PatientOrientation",
    "SeriesDescription", or None (left to the file name). ``transfer_syntax``: native, RLE Lossless,
    JPEG 2000 Lossless (pydicom's encoders) or JPEG Baseline (8-bit, encoded with Pillow).
    """
    path = Path(path)
    rng = np.random.default_rng(1)
    jpeg = transfer_syntax == JPEGBaseline8Bit
    bits_stored = 8 if jpeg else bits_stored
    top = (1 << bits_stored) - 1
    value = np.round(np.clip(image, 0.0, 1.0) * top) - (1 << (bits_stored - 1) if signed else 0)
    if rescale is not None:
        value = np.round((value - rescale[1]) / rescale[0])
    if photometric == "MONOCHROME1":
        value = top - value
    dtype = np.uint8 if jpeg else (np.int16 if signed else np.uint16)
    stored = value.astype(dtype)
    if garbage_high_bits:
        unsigned = stored.view(np.uint16)
        unsigned |= (rng.integers(0, 1 << (16 - bits_stored), size=stored.shape) << bits_stored).astype(np.uint16)

    ds = _base_dataset(presentation_intent)
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 8 if jpeg else 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(signed)
    if pixel_spacing is not None:
        ds.PixelSpacing = [pixel_spacing, pixel_spacing]
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
        ds.RescaleType = "US"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    _write_laterality(ds, laterality, laterality_in, view)
    _write_view(ds, view, view_in, laterality)

    if jpeg:
        buffer = io.BytesIO()
        Image.fromarray(stored).save(buffer, format="JPEG", quality=95)
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.PixelData = encapsulate([buffer.getvalue()])
        ds["PixelData"].VR = "OB"
        ds.LossyImageCompression = "01"
    else:
        ds.PixelData = stored.tobytes()
        if transfer_syntax != ExplicitVRLittleEndian:
            ds.compress(transfer_syntax, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_non_image_dicom(path: str | Path) -> Path:
    """A valid DICOM file without pixel data (e.g. a structured report sent along with the images)."""
    path = Path(path)
    ds = _base_dataset("FOR PRESENTATION")
    ds.ImageLaterality, ds.ViewPosition = "L", "CC"
    ds.save_as(path, enforce_file_format=True)
    return path


def _base_dataset(presentation_intent: str) -> Dataset:
    sop_class = DigitalMammographyXRayImageStorageForPresentation
    if presentation_intent == "FOR PROCESSING":
        sop_class = DigitalMammographyXRayImageStorageForProcessing
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.PatientID = "SYNTH"
    ds.PresentationIntentType = presentation_intent
    return ds


def _write_laterality(ds: Dataset, laterality: str, where: str | None, view: str) -> None:
    if where in ("ImageLaterality", "Laterality"):
        setattr(ds, where, laterality)
    elif where == "FrameLaterality":
        anatomy = Dataset()
        anatomy.FrameLaterality = laterality
        group = Dataset()
        group.FrameAnatomySequence = Sequence([anatomy])
        ds.SharedFunctionalGroupsSequence = Sequence([group])
    elif where == "PatientOrientation":
        ds.PatientOrientation = PATIENT_ORIENTATION[(laterality, view)].split("\\")
    elif where == "SeriesDescription":
        ds.SeriesDescription = f"{laterality} {ds.get('SeriesDescription', '')}".strip()


def _write_view(ds: Dataset, view: str, where: str | None, laterality: str) -> None:
    if where == "ViewPosition":
        ds.ViewPosition = view
    elif where in ("ViewCodeSequence", "ViewCodeMeaning"):
        code = Dataset()
        if where == "ViewCodeSequence":
            code.CodeValue, code.CodingSchemeDesignator = VIEW_CODES[view][:2]
        code.CodeMeaning = VIEW_CODES[view][2]
        ds.ViewCodeSequence = Sequence([code])
    elif where == "PatientOrientation":
        ds.PatientOrientation = PATIENT_ORIENTATION[(laterality, view)].split("\\")
    elif where == "SeriesDescription":
        ds.SeriesDescription = f"{ds.get('SeriesDescription', '')} {view}".strip()
