"""The heatmap as a DICOM object a viewer shows on mammograms without geometry: a colour secondary capture.

One derived image per source mammogram, in the source's own orientation: the breast in grey, the heatmap
coloured over it (matplotlib's ``inferno``, opacity growing with the probability, as the ``heatmap`` command's
PNG overlays) and the candidate boxes with their rank and score burnt in. Each references its source
(``SourceImageSequence``, ``ReferencedImageSequence``, ``DerivationDescription``) and carries its laterality and
orientation. A DICOM SEG would be the standard's object for a map, but OHIF shows a SEG only over images with
FrameOfReferenceUID, ImageOrientationPatient and ImagePositionPatient, which mammograms rarely carry
(``docs/pacs.md`` has the measurement); a secondary capture needs none.

The grey image is the detector's own input (the breast as ``read_mammogram`` returned it, at the working
resolution, background set to 0), mapped back to the source's pixel grid at display size: no second decoding
of a full-size mammogram.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import highdicom as hd
import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import JPEGBaseline8Bit, generate_uid

from custom.mammography.data.alignment import AxisAlignedAffine
from custom.mammography.detection.detector import ExamDetection
from custom.mammography.detection.outputs import cached_to_original
from custom.pacs.report import MANUFACTURER, evidence, source_names_accepted
from custom.pacs.runs import BundleIdentity, description, series_number
from custom.pacs.study import StudyImage

MAX_SIDE_PX = 1024  # a display image: larger sources are shown downsampled
HEAT_OPACITY = 0.65  # opacity of a probability-1 location; lower probabilities fade out
JPEG_QUALITY = 92
# PatientOrientation (towards increasing column, towards increasing row) when the source's own is missing or not
# the standard's two codes (CBIS-DDSM writes a bare "CC"): with the chest wall on the left, columns run anterior
_ORIENTATION = {("L", "CC"): ("A", "R"), ("R", "CC"): ("A", "L"), ("L", "MLO"): ("A", "FR"), ("R", "MLO"): ("A", "FL")}
_MIRRORED = {"A": "P", "P": "A"}


def display_affine(geometry: dict[str, dict], side: str, step: float) -> AxisAlignedAffine:
    """Exam reference frame -> the source's pixel grid shrunk by ``step`` (pixel centres kept in place)."""
    to_original = cached_to_original(geometry, side)
    scale = np.asarray(to_original.scale) / step
    shift = (np.asarray(to_original.shift) + 0.5) / step - 0.5
    return AxisAlignedAffine(scale=tuple(map(float, scale)), shift=tuple(map(float, shift)))


def overlay_pixels(detection: ExamDetection, stack: np.ndarray, side: str, candidates: Sequence[dict]) -> np.ndarray:
    """The RGB ``uint8`` overlay of one breast of ``detection``: ``stack`` is its exam's ``(4, H, W)`` stack,
    ``candidates`` its boxes in source pixels (``rank``, ``score``, ``box``)."""
    height, width = (int(n) for n in detection.geometry[side]["original_shape"])
    step = max(1.0, max(height, width) / MAX_SIDE_PX)
    shape = (max(1, round(height / step)), max(1, round(width / step)))
    affine = display_affine(detection.geometry, side, step)
    channel = 0 if side == "L" else 1  # the stack holds the left breast, then the right one aligned onto it
    grey = np.clip(affine.warp(stack[channel], shape), 0, 1)
    heat = np.clip(affine.warp(detection.heatmaps[side], shape), 0, 1)
    colour = colormaps["inferno"](heat)[..., :3]
    alpha = (HEAT_OPACITY * heat)[..., None]
    rgb = (grey[..., None] * (1 - alpha) + colour * alpha) * 255
    picture = Image.fromarray(np.round(rgb).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(picture)
    for candidate in candidates:
        xmin, ymin, xmax, ymax = (value / step for value in candidate["box"])
        outline = (0, 255, 255) if candidate["rank"] == 1 else (0, 255, 0)
        draw.rectangle([xmin, ymin, xmax, ymax], outline=outline, width=2)
        draw.text((xmin + 3, ymin + 2), f"{candidate['rank']}: {candidate['score']:.2f}", fill=outline)
    return np.asarray(picture)


def overlay_image(source: StudyImage, pixels: np.ndarray, flipped: bool, bundle: BundleIdentity, run: int,
                  series_uid: str, instance_number: int, patient: Dataset | None = None) -> hd.sc.SCImage:
    """The secondary capture of ``pixels`` (an :func:`overlay_pixels` image) for ``source``. ``patient``: the
    header whose patient and study attributes every instance of the run repeats (default the source's own):
    CBIS-DDSM files give each image its own PatientID, and one series must name one patient."""
    header = source.header
    height, width = int(header.Rows), int(header.Columns)
    step = max(height / pixels.shape[0], width / pixels.shape[1])
    spacing = header.get("PixelSpacing") or header.get("ImagerPixelSpacing")
    kind = "heatmap"
    orientation = _orientation(header, source, flipped)
    with source_names_accepted():
        image = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=evidence(header, patient), pixel_array=pixels, photometric_interpretation="YBR_FULL_422",
            bits_allocated=8,
            coordinate_system="PATIENT", series_instance_uid=series_uid, series_number=series_number(run, kind),
            sop_instance_uid=generate_uid(), instance_number=instance_number, manufacturer=MANUFACTURER,
            pixel_spacing=tuple(float(value) * step for value in spacing) if spacing else None,
            # highdicom knows single direction letters only; mammography's MLO has combined ones (FR): set below
            laterality=source.laterality, patient_orientation=tuple(value[0] for value in orientation),
            transfer_syntax_uid=JPEGBaseline8Bit, series_description=description(bundle, run, kind),
            manufacturer_model_name=bundle.name, software_versions=bundle.version, content_qualification="RESEARCH")
    image.PatientOrientation = list(orientation)
    image.ImageLaterality = source.laterality  # highdicom sets the series' Laterality; viewers read either
    image.Modality = "OT"  # not MG: searches for mammograms (MONAI Label's, --watch's) must not find overlays
    image.ImageType = ["DERIVED", "SECONDARY", "HEATMAP"]
    image.BurnedInAnnotation = "YES"
    image.DerivationDescription = (f"Asymmetry heatmap and candidates of {bundle.name} {bundle.version} over "
                                   f"{source.name} ({source.sop_uid}), shrunk {step:.2f}x; research use")[:1024]
    image.SourceImageSequence = _reference(header)
    image.ReferencedImageSequence = _reference(header)
    return image


def _orientation(header: Dataset, source: StudyImage, flipped: bool) -> tuple[str, str]:
    own = header.get("PatientOrientation") or []
    own = [own] if isinstance(own, str) else [str(value) for value in own]
    if len(own) == 2 and all(re.fullmatch(r"[APRLHF]{1,3}", value) for value in own):
        return own[0], own[1]
    along_row, along_column = _ORIENTATION[(source.laterality, source.view)]
    return (_MIRRORED[along_row] if flipped else along_row), along_column


def _reference(header: Dataset) -> DicomSequence:
    item = Dataset()
    item.ReferencedSOPClassUID = header.SOPClassUID
    item.ReferencedSOPInstanceUID = header.SOPInstanceUID
    return DicomSequence([item])
