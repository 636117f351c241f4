"""Exams built in memory from image files, aligned exactly as the on-disk exam cache aligns them.

Files are grouped by view; each view with one left and one right breast becomes an :class:`AlignedExam`
(the same ``(4, H, W)`` stack and ``geometry`` as an ``ExamRecord``, without touching the disk). A view with
one breast only cannot be compared with anything: it becomes a :class:`SingleBreastView` to be reported.
An image that cannot be read, given a ``SkipReport``, is reported there and the others go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.exam_cache import MOVING_SIDE, REFERENCE_SIDE, REGISTRATION_MODES, align_breasts, exam_geometry
from custom.mammography.data.reader import read_mammogram
from custom.skip_report import SkipReport

IMAGE_SUFFIXES = (".dcm", ".dicom", ".png", ".nii", ".nii.gz")


@dataclass(frozen=True)
class ImageInput:
    """One image file of an exam, with the laterality/view the user gave for a file that says nothing."""

    path: Path
    laterality: str | None = None
    view: str | None = None


@dataclass
class AlignedExam:
    """One view of a study with both breasts, aligned in memory; reads like an ``ExamRecord`` for detection."""

    study_id: str
    view: str
    stack: np.ndarray  # (4, H, W): left image, aligned right image, left mask, aligned right mask
    geometry: dict[str, dict]
    findings: list[dict] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.study_id}_{self.view}"

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.stack.shape[1:])

    @property
    def is_normal_pair(self) -> bool:
        """As for ``ExamRecord`` without breast-level BI-RADS: normal unless a finding is known."""
        return not self.findings

    def load(self, mmap: bool = True) -> np.ndarray:
        """The ``(4, H, W)`` stack (``mmap`` is accepted for ``ExamRecord`` compatibility)."""
        return self.stack


@dataclass(frozen=True)
class SingleBreastView:
    """A view given for one breast only: no contralateral image, so no asymmetry map."""

    study_id: str
    view: str
    side: str
    path: str

    @property
    def message(self) -> str:
        missing = MOVING_SIDE if self.side == REFERENCE_SIDE else REFERENCE_SIDE
        return (f"{self.view}: only the {self.side} breast was given ({self.path}); without the {missing} breast "
                "no asymmetry map can be computed for this view")


def study_images(folder: str | Path) -> list[Path]:
    """The image files (DICOM, PNG, NIfTI) anywhere inside a study folder, sorted by path.

    Sub-folders count: a CBIS-DDSM download keeps each image three folders deep. Files that are no
    mammogram (its ROI masks and crops) are sorted out when read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: study folder not found")
    files = sorted(path for path in folder.rglob("*") if path.is_file() and path.name.lower().endswith(IMAGE_SUFFIXES))
    if not files:
        raise FileNotFoundError(f"{folder}: no image file ({', '.join(IMAGE_SUFFIXES)}) in the study folder")
    return files


def exams_from_images(
    paths: Sequence[str | Path | ImageInput],
    study_id: str,
    *,
    spacing: float | None = None,
    downsample: float | None = None,
    assumed_spacing: float | None = None,
    registration: str = "mask",
    report: SkipReport | None = None,
) -> tuple[list[AlignedExam], list[SingleBreastView]]:
    """Reads the images of one study, groups them by view and aligns each view's two breasts.

    Laterality and view come from the files' tags or names (as ``read_mammogram`` finds them), or from an
    ``ImageInput``. Returns the aligned exams (one per view with both breasts) and the views with a single
    breast, both in view order. With ``report``, an unreadable image is reported there and skipped (its view
    may then have one breast); without, it raises. Images of different patients are always an error. Images
    without a pixel spacing are read at ``assumed_spacing`` or their archive's (``read_mammogram``); each side's
    ``geometry`` says so (:func:`custom.mammography.data.exam_cache.spacing_assumptions`).
    """
    if registration not in REGISTRATION_MODES:
        raise ValueError(f"registration must be one of {REGISTRATION_MODES}, got {registration!r}")
    if not paths:
        raise ValueError("no image given")
    views: dict[str, dict[str, tuple]] = {}
    for item in paths:
        item = item if isinstance(item, ImageInput) else ImageInput(Path(item))
        try:
            image, meta = read_mammogram(item.path, spacing=spacing, downsample=downsample,
                                         assumed_spacing=assumed_spacing, laterality=item.laterality, view=item.view)
        except MammogramReadError as error:
            if report is None:
                raise
            report.skip(error.path, error.problem)
            continue
        sides = views.setdefault(meta["view"], {})
        if meta["laterality"] in sides:
            raise ValueError(
                f"two {meta['laterality']} {meta['view']} images: {sides[meta['laterality']][1]['path']} and {item.path}; "
                "give one image per breast and view"
            )
        sides[meta["laterality"]] = (image, meta)
    _check_one_patient([meta for sides in views.values() for _, meta in sides.values()])
    exams, single = [], []
    for view in sorted(views):
        sides = views[view]
        if len(sides) == 1:
            (side, (_, meta)), = sides.items()
            single.append(SingleBreastView(study_id=study_id, view=view, side=side, path=meta["path"]))
            continue
        (reference, reference_meta), (moving, moving_meta) = sides[REFERENCE_SIDE], sides[MOVING_SIDE]
        stack, affine = align_breasts(reference, reference_meta, moving, moving_meta, registration)
        geometry = exam_geometry(reference_meta, moving_meta, affine)
        for side, meta in ((REFERENCE_SIDE, reference_meta), (MOVING_SIDE, moving_meta)):
            geometry[side]["pixel_spacing"] = meta["pixel_spacing"]
        exams.append(AlignedExam(study_id=study_id, view=view, stack=stack, geometry=geometry))
    return exams, single


def _check_one_patient(metas: list[dict]) -> None:
    """Raises when the images name different patients (files of two exams given together by mistake)."""
    patients = {meta["patient_id"]: meta["path"] for meta in metas if meta.get("patient_id")}
    if len(patients) > 1:
        listed = ", ".join(f"{patient} ({Path(path).name})" for patient, path in patients.items())
        raise ValueError(f"the images belong to different patients: {listed}; give the images of one exam")
