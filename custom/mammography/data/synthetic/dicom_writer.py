"""Write one synthetic mammogram as a DICOM file carrying the tags and the quirks of real ones.

Real archives mix photometric interpretations, compressed transfer syntaxes, laterality in
`ImageLaterality` or only `Laterality`, the view in `ViewPosition` or only `ViewCodeSequence`, and a few
"FOR PROCESSING" (raw detector) images. `image_variant` cycles through these over the images of a data
set, so every variant appears in any data set of four studies or more, whatever the seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless, UID

FOR_PRESENTATION_SOP = UID("1.2.840.10008.5.1.4.1.1.1.2")
FOR_PROCESSING_SOP = UID("1.2.840.10008.5.1.4.1.1.1.2.1")
VIEW_CODES = {"CC": ("399162004", "cranio-caudal"), "MLO": ("399368009", "medio-lateral oblique")}
# (manufacturer, model, bits stored)
MANUFACTURERS = (
    ("SIEMENS", "Mammomat Inspiration", 12),
    ("IMS GIOTTO S.p.A.", "GIOTTO IMAGE 3DL", 14),
    ("Planmed", "Planmed Nuance", 14),
    ("HOLOGIC, Inc.", "Selenia Dimensions", 12),
)
# PatientOrientation (row direction, column direction) with the chest wall left for L and right for R
_ORIENTATION = {("L", "CC"): ["A", "R"], ("L", "MLO"): ["A", "FR"], ("R", "CC"): ["P", "L"], ("R", "MLO"): ["P", "FL"]}
_RAW_GAIN = 3.2  # "FOR PROCESSING": stored value ~ detector exposure, exp(-attenuation)
# The JPEG 2000 encoder logs "tile number 1 / 1" at INFO for every image: hundreds of lines on a first run
# that drown the progress bars. Quietened unless the user has set its level.
_OPENJPEG_LOGGER = logging.getLogger("openjpeg")
if _OPENJPEG_LOGGER.level == logging.NOTSET:
    _OPENJPEG_LOGGER.setLevel(logging.WARNING)


@dataclass(frozen=True)
class StudyTags:
    """Patient- and study-level attributes shared by the four images of a study."""

    patient_id: str
    patient_age: int
    study_uid: str
    study_date: str  # YYYYMMDD
    manufacturer: str
    model: str
    bits_stored: int
    for_processing: bool
    thickness_mm: float
    compression_force_n: float
    kvp: float


@dataclass(frozen=True)
class DicomVariant:
    """How one image is encoded and tagged."""

    photometric: str  # MONOCHROME1 or MONOCHROME2
    transfer_syntax: UID
    laterality_tag: str  # ImageLaterality or Laterality
    view_tag: str  # ViewPosition (with ViewCodeSequence) or ViewCodeSequence


def image_variant(index: int, offset: int, for_processing: bool) -> DicomVariant:
    """The variant of the `index`-th image of a data set. Each quirk cycles with its own period, the
    periods coprime to each other and to the 4 images of a study, so quirks are not tied to each other
    or to one laterality/view; `offset` is seeded."""
    i = index + offset
    syntax = {0: RLELossless, 4: RLELossless, 7: JPEG2000Lossless}.get(i % 9, ExplicitVRLittleEndian)
    return DicomVariant(
        photometric="MONOCHROME1" if for_processing or i % 5 == 0 else "MONOCHROME2",
        transfer_syntax=syntax,
        laterality_tag="Laterality" if i % 13 == 4 else "ImageLaterality",
        view_tag="ViewCodeSequence" if i % 11 == 6 else "ViewPosition",
    )


def stored_values(image: np.ndarray, bits_stored: int, photometric: str, for_processing: bool) -> np.ndarray:
    """Map a [0, 1] presentation image (1 = dense) to stored integers. Raw images store exposure,
    which falls exponentially with attenuation; MONOCHROME1 stores inverted values."""
    top = 2**bits_stored - 1
    level = np.exp(-_RAW_GAIN * image) * 0.92 if for_processing else image
    if photometric == "MONOCHROME1" and not for_processing:
        level = 1.0 - level
    return np.rint(np.clip(level, 0.0, 1.0) * top).astype(np.uint16)


def _view_code(view: str) -> Sequence:
    code = Dataset()
    code.CodeValue, code.CodeMeaning = VIEW_CODES[view]
    code.CodingSchemeDesignator = "SCT"
    return Sequence([code])


def write_mammogram(
    path: Path,
    image: np.ndarray,
    *,
    study: StudyTags,
    laterality: str,
    view: str,
    series_uid: str,
    sop_uid: str,
    spacing_mm: float,
    instance_number: int,
    variant: DicomVariant,
) -> None:
    """Write `image` (float [0, 1], already in stored orientation) as a digital mammography DICOM file."""
    sop_class = FOR_PROCESSING_SOP if study.for_processing else FOR_PRESENTATION_SOP
    pixels = stored_values(image, study.bits_stored, variant.photometric, study.for_processing)
    tissue = pixels[image > 0.1]
    lo, hi = np.percentile(tissue if tissue.size else pixels, [1.0, 99.0])

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, UID(sop_uid)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Modality = "MG"
    ds.PatientName = "ANONYMIZED"
    ds.PatientID = study.patient_id
    ds.PatientSex = "F"
    ds.PatientAge = f"{study.patient_age:03d}Y"
    ds.PatientIdentityRemoved = "YES"
    ds.StudyInstanceUID = UID(study.study_uid)
    ds.SeriesInstanceUID = UID(series_uid)
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.study_date
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.SeriesNumber = instance_number
    ds.InstanceNumber = instance_number
    ds.Manufacturer = study.manufacturer
    ds.ManufacturerModelName = study.model
    ds.BodyPartExamined = "BREAST"
    ds.PresentationIntentType = "FOR PROCESSING" if study.for_processing else "FOR PRESENTATION"
    ds.BreastImplantPresent = "NO"
    ds.BurnedInAnnotation = "NO"
    ds.PositionerType = "MAMMOGRAPHIC"
    ds.DetectorType = "DIRECT"
    ds.BodyPartThickness = f"{study.thickness_mm:.0f}"
    ds.CompressionForce = f"{study.compression_force_n:.0f}"
    ds.KVP = f"{study.kvp:.0f}"
    ds.AnodeTargetMaterial = "TUNGSTEN"
    ds.FilterMaterial = "RHODIUM"
    setattr(ds, variant.laterality_tag, laterality)
    if variant.view_tag == "ViewPosition":
        ds.ViewPosition = view
    ds.ViewCodeSequence = _view_code(view)
    ds.PatientOrientation = _ORIENTATION[(laterality, view)]
    ds.ImagerPixelSpacing = ds.PixelSpacing = [f"{spacing_mm:g}", f"{spacing_mm:g}"]
    ds.EstimatedRadiographicMagnificationFactor = "1.0"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = variant.photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = study.bits_stored
    ds.HighBit = study.bits_stored - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = f"{(lo + hi) / 2:.0f}"
    ds.WindowWidth = f"{max(hi - lo, 1.0) * 1.1:.0f}"
    ds.VOILUTFunction = "LINEAR"
    ds.PixelData = pixels.tobytes()
    if variant.transfer_syntax != ExplicitVRLittleEndian:
        ds.compress(variant.transfer_syntax, pixels, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
