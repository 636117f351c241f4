"""Bilateral subtraction on the synthetic benchmark: how visible the lesions are to the oldest CAD idea.

The aligned difference of the two breasts (``custom.mammography.detection.subtraction.BilateralSubtraction``) goes
through the same candidate extraction as the learned detector. On real film pairs, bilateral
subtraction found 95 % of masses at about 3 false positives per image (Yin, Giger et al., Med Phys 1991)
and separated mass cases from healthy ones with AUC 0.84 (Celaya-Padilla et al., 2015): the synthetic
lesions are calibrated to land in that range, per lesion kind.
"""

from __future__ import annotations

from collections.abc import Sequence

from custom.mammography.data.exam_cache import ExamRecord
from custom.mammography.detection.subtraction import BilateralSubtraction
from custom.mammography.detection.evaluate_run import detection_records
from custom.evaluation.froc import ExamScore, ImageDetections, exam_auc, froc_at

KINDS = {"Mass": "mass", "Suspicious Calcification": "calcification", "Architectural Distortion": "distortion"}
FP_RATES = (1.0, 3.0)


def study_kinds(exams: Sequence[ExamRecord]) -> dict[str, str | None]:
    """Each study's lesion kind (from its finding's first category), None for a normal study."""
    kinds: dict[str, str | None] = {}
    for exam in exams:
        if exam.findings:
            kinds[exam.study_id] = KINDS.get(exam.findings[0]["category"], "other")
        else:
            kinds.setdefault(exam.study_id, None)
    return kinds


def _one_finding_per_lesion(image: ImageDetections) -> ImageDetections:
    """A mass with calcifications is annotated twice with the same box; it is one lesion to find."""
    boxes = sorted({tuple(float(v) for v in box) for box in image.findings})
    return ImageDetections(image_id=image.image_id, patient_id=image.patient_id, boxes=image.boxes,
                           scores=image.scores, findings=[list(box) for box in boxes])


def _figures(images: list[ImageDetections], exams: list[ExamScore], n_bootstrap: int, seed: int) -> dict:
    froc = froc_at(images, FP_RATES, n_bootstrap, seed)
    out = {f"sensitivity_at_{rate:g}fp": value.as_dict() for rate, value in zip(FP_RATES, froc.sensitivity, strict=True)}
    out["exam_auc"] = exam_auc(exams, n_bootstrap=n_bootstrap, seed=seed).as_dict()
    out["n_findings"] = froc.n_findings
    out["n_images"] = froc.n_images
    return out


def subtraction_figures(test_exams: Sequence[ExamRecord], spacing_mm: float, *, seed: int = 0,
                        n_bootstrap: int = 1000) -> dict:
    """FROC sensitivity at 1 and 3 FP/image and exam AUC (95 % patient-bootstrap CIs) of bilateral subtraction,
    overall and per kind: per kind, the lesion studies of that kind are scored against all normal studies."""
    images, exams = detection_records(BilateralSubtraction(spacing_mm=spacing_mm), test_exams)
    images = [_one_finding_per_lesion(image) for image in images]
    kinds = study_kinds(test_exams)
    study_of = {image.image_id: image.image_id.split("/")[0] for image in images}
    figures = {"overall": _figures(images, exams, n_bootstrap, seed)}
    for kind in sorted({k for k in kinds.values() if k}):
        keep = {study for study, k in kinds.items() if k in (kind, None)}
        figures[kind] = _figures([i for i in images if study_of[i.image_id] in keep],
                                 [e for e in exams if e.study_id in keep], n_bootstrap, seed)
    return figures
