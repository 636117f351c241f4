"""Mammograms written the way real archives write them: their tags, folder layouts and file names.

- CBIS-DDSM as TCIA's NBIA Data Retriever delivers it: ``CBIS-DDSM/<PatientID>/<date>-DDSM-<n>/1.000000-full
  mammogram images-<n>/1-1.dcm``; ``PatientID`` ``Mass-Training_P_00001_LEFT_CC``; ``PatientOrientation`` the
  bare view word; ``Laterality`` L/R; no ``ViewPosition``, no pixel spacing; secondary capture of modality MG,
  RLE lossless, 16-bit; its own ``StudyInstanceUID`` per image; ROI mask and cropped lesion in ``<PatientID>_1``.
- INbreast: ``AllDICOMs/<id>_<hash>_MG_<L|R>_<CC|ML>_ANON.dcm`` with neither laterality nor view tags.
- VinDr-Mammo: ``images/<study hash>/<image hash>.dicom`` with ``ImageLaterality`` and ``ViewPosition``.

Also a tiny trained-looking bundle (random encoder weights, detector calibrated on given exams) for
``heatmap``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import torch
from pydicom.uid import RLELossless, SecondaryCaptureImageStorage, generate_uid

from custom.mammography.data.readers.cbis import CSV_FILES
from custom.mammography.detection import AsymmetryDetector, EncoderDenseEmbedder, exams_from_images
from custom.training.precision import MixedPrecision
from custom.networks import seeded_encoder
from tests.dicom_factory import synthetic_breast, write_mammogram_dicom

SHAPE = (256, 200)
SIDE_WORDS = {"L": "LEFT", "R": "RIGHT"}


def breast_image(side: str, seed: int, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """A breast stored as real archives store it: chest wall left for L, right for R."""
    return synthetic_breast(shape, chest_wall="left" if side == "L" else "right", seed=seed)[0]


def retag(path: Path, **tags) -> Path:
    """Sets (value) or deletes (None) tags of a written file, as another archive's writer would have."""
    ds = pydicom.dcmread(path)
    for keyword, value in tags.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    if "SOPClassUID" in tags:
        ds.file_meta.MediaStorageSOPClassUID = tags["SOPClassUID"]
    ds.save_as(path, enforce_file_format=True)
    return path


def _number(*parts: object) -> int:
    return int(hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:5], 16) % 100000


def cbis_patient_id(patient: str, side: str, view: str, kind: str = "Mass", phase: str = "Training") -> str:
    return f"{kind}-{phase}_{patient}_{SIDE_WORDS[side]}_{view}"


def write_cbis_image(root: Path, patient: str, side: str, view: str, *, kind: str = "Mass", phase: str = "Training",
                     seed: int = 0, with_roi: bool = True, shape: tuple[int, int] = SHAPE) -> Path:
    """One CBIS-DDSM full mammogram (and its ROI mask and crop in ``<PatientID>_1``); returns the image path.
    ``shape``: real CBIS-DDSM scans are about 3000 x 5000 pixels of 42-50 µm; the default is a thumbnail."""
    patient_id = cbis_patient_id(patient, side, view, kind, phase)
    n = _number(patient_id)
    series = root / "CBIS-DDSM" / patient_id / f"07-20-2016-DDSM-{n:05d}" / f"1.000000-full mammogram images-{n:05d}"
    series.mkdir(parents=True)
    image = breast_image(side, seed, shape)
    path = write_mammogram_dicom(series / "1-1.dcm", image, laterality_in=None, view_in=None, bits_stored=16,
                                 transfer_syntax=RLELossless, pixel_spacing=None)
    _cbis_tags(path, patient_id, side, view, "full mammogram images")
    if with_roi:
        rois = root / "CBIS-DDSM" / f"{patient_id}_1" / f"07-21-2016-DDSM-{n:05d}"
        lesion = (slice(round(shape[0] * 100 / 256), round(shape[0] * 140 / 256)),
                  slice(round(shape[1] * 60 / 200), round(shape[1] * 100 / 200)))  # [100:140, 60:100] on SHAPE
        mask = np.zeros(shape)
        mask[lesion] = 1.0
        for number, (description, pixels) in enumerate(
                (("ROI mask images", mask), ("cropped images", image[lesion])), start=1):
            folder = rois / f"1.00000{number}-{description}-{n + number:05d}"
            folder.mkdir(parents=True)
            written = write_mammogram_dicom(folder / "1-1.dcm", pixels, laterality_in=None, view_in=None,
                                            bits_stored=8 if number == 1 else 16, pixel_spacing=None)
            _cbis_tags(written, f"{patient_id}_1", side, view, description)
    return path


def write_cbis_archive(root: Path, breasts: dict[str, list[tuple[str, str]]], *, shape: tuple[int, int] = SHAPE
                       ) -> dict[tuple[str, str, str], Path]:
    """A CBIS-DDSM download in TCIA's layout with its four case-description CSVs: per patient (``"P_00001"``), the
    (side, view) images listed, each with one mass, as CBIS-DDSM lists only breasts holding an abnormality.
    The CSVs name NBIA's "classic" UID folders, not the download's. Returns the image paths by (patient, side,
    view)."""
    images, rows = {}, []
    for number, (patient, views) in enumerate(sorted(breasts.items())):
        for side, view in views:
            images[patient, side, view] = write_cbis_image(root, patient, side, view, seed=len(images), shape=shape)
            folder = cbis_patient_id(patient, side, view)
            uid = f"1.3.6.1.4.1.9590.100.1.2.{number}{len(images)}"
            rows.append({"patient_id": patient, "breast_density": "2", "left or right breast": SIDE_WORDS[side],
                         "image view": view, "abnormality id": "1", "abnormality type": "mass", "assessment": "4",
                         "pathology": "MALIGNANT", "subtlety": "3", "image file path": f"{folder}/{uid}/{uid}.1/000000.dcm",
                         "cropped image file path": f"{folder}_1/{uid}/{uid}.2/000000.dcm",
                         "ROI mask file path": f"{folder}_1/{uid}/{uid}.2/000001.dcm"})
    for name in CSV_FILES:
        table = pd.DataFrame(rows if name == "mass_case_description_train_set.csv" else [], columns=list(rows[0]))
        if name.startswith("calc"):
            table = table.rename(columns={"breast_density": "breast density"})
        table.to_csv(root / name, index=False)
    return images


def _cbis_tags(path: Path, patient_id: str, side: str, view: str, description: str) -> None:
    retag(path, PatientID=patient_id, PatientName=patient_id, PatientOrientation=view, Laterality=side,
          SOPClassUID=SecondaryCaptureImageStorage, Modality="MG", ConversionType="WSD",
          SeriesDescription=description, StudyInstanceUID=generate_uid(), SeriesInstanceUID=generate_uid(),
          PresentationIntentType=None)


def write_inbreast_image(root: Path, file_id: str, patient_hash: str, side: str, view: str, seed: int = 0) -> Path:
    """An INbreast DICOM (``ML`` is its MLO): laterality and view in the file name only, 0.07 mm, 14-bit."""
    name = f"{file_id}_{patient_hash}_MG_{side}_{'ML' if view == 'MLO' else view}_ANON.dcm"
    (root / "AllDICOMs").mkdir(parents=True, exist_ok=True)
    return write_mammogram_dicom(root / "AllDICOMs" / name, breast_image(side, seed), laterality_in=None,
                                 view_in=None, bits_stored=14, pixel_spacing=0.07)


def write_vindr_image(root: Path, study: str, image_id: str, side: str, view: str, seed: int = 0) -> Path:
    """A VinDr-Mammo DICOM: hash-named, ``ImageLaterality`` and ``ViewPosition`` tags."""
    (root / "images" / study).mkdir(parents=True, exist_ok=True)
    return write_mammogram_dicom(root / "images" / study / f"{image_id}.dicom", breast_image(side, seed),
                                 laterality=side, view=view, pixel_spacing=0.1)


def tiny_bundle(folder: Path, studies: list[list[Path]], *, downsample: float | None = None) -> Path:
    """A bundle folder with ``models/model.pt`` (random weights) and a detector calibrated on the given studies'
    image files."""
    models = folder / "models"
    models.mkdir(parents=True)
    encoder = seeded_encoder(0, normalize=True)
    torch.save(encoder.state_dict(), models / "model.pt")
    exams = [exam for number, images in enumerate(studies)
             for exam in exams_from_images(images, f"s{number}", spacing=0.5, downsample=downsample)[0]]
    embedder = EncoderDenseEmbedder(encoder, 96, MixedPrecision("cpu", enabled=False))
    AsymmetryDetector(embedder).fit(exams).save(models / "detector.json")
    return folder


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``python -m custom`` in-process: exit code, stdout, stderr."""
    from custom.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
