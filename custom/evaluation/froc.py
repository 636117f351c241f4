"""Detection evaluation: FROC over lesion candidates and exam-level ROC AUC, with patient-bootstrap CIs.

Input contract
--------------
An *image* is one breast in one view of one study. :class:`ImageDetections` holds its ``image_id``, its
``patient_id``, the detector's candidates (boxes ``(xmin, ymin, xmax, ymax)``, one score each, higher = more
suspicious) and the ground-truth finding boxes (empty for a normal breast). Candidates and findings of an
image share one pixel frame (the manifest's original pixel coordinates). An *exam* (study) is an
:class:`ExamScore`: one score, ``abnormal`` (1 when the study holds a finding) and the ``patient_id``.
Wherever these are expected, plain mappings with the same keys are accepted too (see ``from_record``).

Matching (threshold-free, so the whole FROC curve is one sweep over a sorted list)
---------------------------------------------------------------------------------
- A candidate *hits* a finding when its centre lies inside the finding box (borders included) or their IoU is
  at least ``HIT_IOU`` (0.3).
- At threshold ``t`` a finding is detected when any candidate hitting it scores ``>= t``: each finding counts
  once, at its best-scoring hit. One candidate may detect several overlapping findings.
- A candidate hitting no finding is a false positive. A candidate hitting a finding that a better-scoring
  candidate already detects is neither a true nor a false positive (the usual convention: a detector is not
  punished for a second box on a real lesion, nor rewarded for it).
- False positives per image divide by all images, normal ones included.

Operating points
----------------
The sensitivity at ``r`` false positives per image is the best sensitivity over the thresholds whose FP per
image is ``<= r``: no interpolation, so a threshold reaching it exists. Past the lowest-scoring candidate the
curve stays flat (more false positives than the detector proposes cannot buy sensitivity). The mean over the
rates is the CPM-like summary.

Confidence intervals are percentile bootstraps that resample *patients*, drawn as in the cluster bootstrap of
:mod:`.metrics`: every image of a drawn patient enters as often as the patient is drawn, replicates without any
finding are redrawn, and one set of replicates serves every rate and the mean. Images of one patient are
correlated, so resampling images would give intervals that are too narrow. Point estimates are always computed
on all images.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from monai.data.box_utils import box_iou

from .metrics import (
    _BLOCK_SCORES,
    _MAX_DRAWS_PER_REPLICATE,
    MetricResult,
    _check_bootstrap,
    _cluster_bootstrap,
    _group_codes,
    _interval,
    _WeightedAUC,
    roc_auc,
)

HIT_IOU = 0.3
FP_RATES = (0.25, 0.5, 1.0, 2.0, 4.0)
REPORT_COLUMNS = ("metric", "fp_per_image", "value", "ci_low", "ci_high", "n")
# FP per image is compared with a rate up to this slack, so that e.g. 29 FP on 100 images counts at 0.29
_RATE_TOLERANCE = 1e-9


def _as_boxes(value, what: str) -> np.ndarray:
    """``(n, 4)`` float array of well-formed boxes, or a ``ValueError`` naming ``what``."""
    try:
        boxes = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what}: boxes must be numbers (xmin, ymin, xmax, ymax): {error}") from None
    if boxes.size == 0:
        return np.zeros((0, 4))
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{what}: boxes must be (n, 4) rows of (xmin, ymin, xmax, ymax), got shape {boxes.shape}")
    finite = np.isfinite(boxes).all(axis=1)
    inverted = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    bad = np.flatnonzero(~finite | inverted)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{what}: box {i} {boxes[i].tolist()} is malformed (non-finite, or xmax < xmin or ymax < ymin)"
        )
    return boxes


def _box_and_score(candidate) -> tuple:
    if isinstance(candidate, Mapping):
        return candidate["box"], candidate["score"]
    if hasattr(candidate, "box") and hasattr(candidate, "score"):
        return candidate.box, candidate.score
    return tuple(candidate)


@dataclass
class ImageDetections:
    """Candidates and ground truth of one image (one breast, one view, one study); array-likes are converted.

    ``boxes`` ``(n, 4)`` candidate boxes with ``scores`` ``(n,)``; ``findings`` ``(m, 4)`` finding boxes.
    """

    image_id: str
    patient_id: str
    boxes: np.ndarray = ()
    scores: np.ndarray = ()
    findings: np.ndarray = ()

    def __post_init__(self) -> None:
        self.image_id, self.patient_id = str(self.image_id), str(self.patient_id)
        self.boxes = _as_boxes(self.boxes, f"image {self.image_id!r} candidates")
        self.findings = _as_boxes(self.findings, f"image {self.image_id!r} findings")
        self.scores = np.asarray(self.scores, dtype=np.float64).ravel()
        if self.scores.size != self.boxes.shape[0]:
            raise ValueError(
                f"image {self.image_id!r}: {self.boxes.shape[0]} candidate boxes but {self.scores.size} scores"
            )
        if not np.isfinite(self.scores).all():
            raise ValueError(f"image {self.image_id!r}: candidate scores must be finite, got {self.scores.tolist()}")

    @classmethod
    def from_record(cls, record: Mapping) -> ImageDetections:
        """From ``{"image_id", "patient_id", "candidates", "findings"}``.

        ``candidates``: ``{"box", "score"}`` mappings, objects with ``box`` and ``score`` attributes (the
        detector's candidates) or ``(box, score)`` pairs; ``findings``: boxes or mappings with a ``"box"`` (the
        manifest's findings). Missing ``candidates`` / ``findings`` mean none.
        """
        missing = [key for key in ("image_id", "patient_id") if key not in record]
        if missing:
            raise ValueError(f"image record lacks {missing}: {dict(record)}")
        pairs = [_box_and_score(c) for c in record.get("candidates", ())]
        findings = [f["box"] if isinstance(f, Mapping) else f for f in record.get("findings", ())]
        return cls(
            record["image_id"],
            record["patient_id"],
            boxes=[box for box, _ in pairs],
            scores=[score for _, score in pairs],
            findings=findings,
        )


@dataclass(frozen=True)
class ExamScore:
    """One exam (study): the detector's exam-level ``score`` and ``abnormal`` (1: the study holds a finding)."""

    study_id: str
    patient_id: str
    score: float
    abnormal: int

    def __post_init__(self) -> None:
        if not np.isfinite(self.score):
            raise ValueError(f"exam {self.study_id!r}: score must be finite, got {self.score}")
        if self.abnormal not in (0, 1):
            raise ValueError(f"exam {self.study_id!r}: abnormal must be 0 or 1, got {self.abnormal!r}")

    @classmethod
    def from_record(cls, record: Mapping) -> ExamScore:
        """From ``{"study_id", "patient_id", "score", "abnormal"}``."""
        missing = [key for key in ("study_id", "patient_id", "score", "abnormal") if key not in record]
        if missing:
            raise ValueError(f"exam record lacks {missing}: {dict(record)}")
        return cls(str(record["study_id"]), str(record["patient_id"]), float(record["score"]), int(record["abnormal"]))


def _as_images(images: Iterable[ImageDetections | Mapping]) -> list[ImageDetections]:
    images = [i if isinstance(i, ImageDetections) else ImageDetections.from_record(i) for i in images]
    if not images:
        raise ValueError("images: no images given")
    ids = [image.image_id for image in images]
    if len(set(ids)) != len(ids):
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"images: image_id must be unique, repeated: {duplicated[:5]}")
    if not any(image.findings.shape[0] for image in images):
        raise ValueError(f"images: none of the {len(images)} images holds a finding, so sensitivity is undefined")
    return images


def _check_rates(fp_rates: Sequence[float]) -> tuple[float, ...]:
    rates = tuple(float(r) for r in fp_rates)
    if not rates or not all(np.isfinite(r) and r > 0 for r in rates):
        raise ValueError(f"fp_rates must be a non-empty list of positive false-positive rates, got {fp_rates}")
    return rates


def candidate_hits(candidates, findings, iou_threshold: float = HIT_IOU) -> np.ndarray:
    """``(n, m)`` bool: candidate ``i`` hits finding ``j`` (centre inside the finding box, or IoU >= threshold)."""
    c, f = _as_boxes(candidates, "candidates"), _as_boxes(findings, "findings")
    cx, cy = (c[:, 0] + c[:, 2]) / 2, (c[:, 1] + c[:, 3]) / 2
    inside = (
        (f[None, :, 0] <= cx[:, None])
        & (cx[:, None] <= f[None, :, 2])
        & (f[None, :, 1] <= cy[:, None])
        & (cy[:, None] <= f[None, :, 3])
    )
    return inside | (box_iou(c, f) >= iou_threshold)  # MONAI's, in float32: within 1e-6 of float64


class FrocCurve(NamedTuple):
    """FROC points, one per distinct threshold, thresholds descending; the first point is ``(0, 0, inf)``."""

    fp_per_image: np.ndarray
    sensitivity: np.ndarray
    thresholds: np.ndarray


def sensitivity_at(curve: FrocCurve, fp_rates: Sequence[float] = FP_RATES) -> np.ndarray:
    """Sensitivity of ``curve`` at each FP-per-image rate (the operating-point rule of the module docstring)."""
    fp, sensitivity = np.asarray(curve.fp_per_image), np.asarray(curve.sensitivity)
    return np.array([sensitivity[fp <= rate + _RATE_TOLERANCE].max(initial=0.0) for rate in _check_rates(fp_rates)])


def _tie_block_ends(descending: np.ndarray) -> np.ndarray:
    """Last index of each run of equal scores: a whole run passes a threshold together."""
    if not descending.size:
        return np.zeros(0, dtype=int)
    return np.flatnonzero(np.r_[descending[1:] != descending[:-1], True])


class _MatchedCandidates:
    """Every finding's best-hit score and every false positive, matched once; FROC numbers then follow by sorting.

    Under per-image weights (bootstrap multiplicities) the operating point at ``r`` needs no curve: the lowest
    allowed threshold lies just above the first false-positive score whose cumulative weight exceeds ``r`` times
    the total image weight, and the sensitivity is the weight of the findings scoring above that score.
    """

    def __init__(self, images: list[ImageDetections]) -> None:
        finding_image, finding_score, fp_image, fp_score = [], [], [], []
        for index, image in enumerate(images):
            hits = candidate_hits(image.boxes, image.findings)
            finding_score.append(np.max(np.where(hits, image.scores[:, None], -np.inf), axis=0, initial=-np.inf))
            finding_image.append(np.full(image.findings.shape[0], index))
            missed_all = ~hits.any(axis=1)
            fp_score.append(image.scores[missed_all])
            fp_image.append(np.full(int(missed_all.sum()), index))
        self.n_images = len(images)
        self.finding_score = np.concatenate(finding_score)  # -inf: no candidate hits the finding
        self.fp_score = np.concatenate(fp_score)
        finding_image, fp_image = np.concatenate(finding_image), np.concatenate(fp_image)

        fp_order = np.argsort(-self.fp_score, kind="stable")
        self._fp_image = fp_image[fp_order]
        fp_descending = self.fp_score[fp_order]
        self._fp_block_ends = _tie_block_ends(fp_descending)
        finding_order = np.argsort(-self.finding_score, kind="stable")
        self._finding_image = finding_image[finding_order]
        # findings scoring above each false-positive block's score, then (no block reached) above -inf
        cuts = np.r_[fp_descending[self._fp_block_ends], -np.inf]
        self._findings_above = np.searchsorted(-self.finding_score[finding_order], -cuts, side="left")

    @property
    def n_events(self) -> int:
        """Findings plus false positives: the columns one weight row expands to."""
        return self._finding_image.size + self._fp_image.size

    def curve(self) -> FrocCurve:
        """The FROC curve on all images, one point per distinct threshold."""
        detected = self.finding_score[np.isfinite(self.finding_score)]
        scores = np.r_[detected, self.fp_score]
        order = np.argsort(-scores, kind="stable")
        is_fp = np.r_[np.zeros(detected.size, bool), np.ones(self.fp_score.size, bool)][order]
        ends = _tie_block_ends(scores[order])
        fp = np.r_[0, np.cumsum(is_fp)[ends]] / self.n_images
        sensitivity = np.r_[0, np.cumsum(~is_fp)[ends]] / self.finding_score.size
        return FrocCurve(fp, sensitivity, np.r_[np.inf, scores[order][ends]])

    def sensitivity_at(self, weights: np.ndarray, fp_rates: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """``(R, K)`` sensitivities at ``fp_rates`` per weight row ``(R, n_images)``, and the ``(R,)`` mask of
        rows holding a finding (other rows' sensitivities are NaN)."""
        weights = np.asarray(weights, dtype=np.float64)
        fp = np.cumsum(weights[:, self._fp_image], axis=1)[:, self._fp_block_ends]
        found = np.zeros((weights.shape[0], self._finding_image.size + 1))
        np.cumsum(weights[:, self._finding_image], axis=1, out=found[:, 1:])
        total = weights.sum(axis=1, keepdims=True)
        blocks_allowed = np.stack([(fp <= (rate + _RATE_TOLERANCE) * total).sum(axis=1) for rate in fp_rates], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.take_along_axis(found, self._findings_above[blocks_allowed], axis=1) / found[:, -1:]
        return values, np.isfinite(values[:, 0])


def froc_curve(images: Iterable[ImageDetections | Mapping]) -> FrocCurve:
    """FROC curve ``(fp_per_image, sensitivity, thresholds)`` over every threshold at which it changes.

    Those are the distinct scores of false positives and of each finding's best hit. Point ``k`` keeps the
    candidates scoring ``>= thresholds[k]``; the first point, ``(0, 0, inf)``, keeps none.
    """
    return _MatchedCandidates(_as_images(images)).curve()


@dataclass(frozen=True)
class FrocResult:
    """Sensitivity at each FP-per-image rate and their mean, with patient-bootstrap CIs (``n``: images)."""

    fp_rates: tuple[float, ...]
    sensitivity: tuple[MetricResult, ...]
    mean_sensitivity: MetricResult
    curve: FrocCurve
    n_images: int
    n_patients: int
    n_findings: int
    n_candidates: int
    n_false_positive_candidates: int
    n_bootstrap: int
    confidence: float
    seed: int

    def as_dict(self) -> dict:
        """JSON-ready numbers; the curve's first threshold (infinity) becomes ``None``."""
        thresholds = [None if np.isinf(t) else float(t) for t in self.curve.thresholds]
        return {
            "sensitivity": [{"fp_per_image": r, **m.as_dict()} for r, m in zip(self.fp_rates, self.sensitivity, strict=True)],
            "mean_sensitivity": {"fp_rates": list(self.fp_rates), **self.mean_sensitivity.as_dict()},
            "counts": {
                "images": self.n_images,
                "patients": self.n_patients,
                "findings": self.n_findings,
                "candidates": self.n_candidates,
                "false_positive_candidates": self.n_false_positive_candidates,
            },
            "bootstrap": {
                "resampled": "patients",
                "n_bootstrap": self.n_bootstrap,
                "confidence": self.confidence,
                "seed": self.seed,
            },
            "curve": {
                "fp_per_image": self.curve.fp_per_image.tolist(),
                "sensitivity": self.curve.sensitivity.tolist(),
                "thresholds": thresholds,
            },
        }


def _patient_replicates(
    matched: _MatchedCandidates,
    codes: np.ndarray,
    n_patients: int,
    rates: tuple[float, ...],
    n_bootstrap: int,
    seed: int,
) -> np.ndarray:
    """``(n_bootstrap, K)`` sensitivities at ``rates`` over patient-bootstrap replicates that hold a finding.

    The draws are those of :func:`.metrics.roc_auc` with groups: ``n_patients`` patients drawn with replacement,
    every image of a patient weighted by its draw count; replicates without any finding are redrawn. All rates
    share the replicates, so the mean's interval is coherent with theirs.
    """
    rng = np.random.default_rng(seed)
    uniform = np.full(n_patients, 1.0 / n_patients)
    block = max(1, _BLOCK_SCORES // matched.n_events)
    kept, n_kept, drawn = [], 0, 0
    while n_kept < n_bootstrap:
        if drawn >= _MAX_DRAWS_PER_REPLICATE * n_bootstrap:
            raise ValueError(
                f"FROC bootstrap: only {n_kept} of {drawn} replicates of {n_patients} patients hold a finding; "
                "too few patients have findings for a patient-level interval"
            )
        size = min(block, n_bootstrap - n_kept)
        counts = rng.multinomial(n_patients, uniform, size=size)  # times each patient is drawn, per replicate
        values, valid = matched.sensitivity_at(counts[:, codes], rates)
        kept.append(values[valid])
        n_kept += int(valid.sum())
        drawn += size
    return np.concatenate(kept)[:n_bootstrap]


def froc_at(
    images: Iterable[ImageDetections | Mapping],
    fp_rates: Sequence[float] = FP_RATES,
    n_bootstrap: int = 1000,
    seed: int = 0,
    *,
    confidence: float = 0.95,
) -> FrocResult:
    """Sensitivity at each of ``fp_rates`` false positives per image and their mean, with CIs.

    The CIs come from one patient bootstrap (same ``seed``, same replicates for every rate and the mean).

    Raises:
        ValueError: no images, no finding at all, a malformed box, a non-finite score, repeated image ids, or
            bad ``fp_rates`` / ``n_bootstrap`` / ``confidence``.
    """
    images = _as_images(images)
    rates = _check_rates(fp_rates)
    _check_bootstrap(n_bootstrap, confidence)
    matched = _MatchedCandidates(images)
    codes, n_patients = _group_codes([image.patient_id for image in images], len(images))
    point = matched.sensitivity_at(np.ones((1, len(images))), rates)[0][0]
    replicates = _patient_replicates(matched, codes, n_patients, rates, n_bootstrap, seed)
    return FrocResult(
        fp_rates=rates,
        sensitivity=tuple(
            _interval(point[k], replicates[:, k], confidence, len(images)) for k in range(len(rates))
        ),
        mean_sensitivity=_interval(point.mean(), replicates.mean(axis=1), confidence, len(images)),
        curve=matched.curve(),
        n_images=len(images),
        n_patients=n_patients,
        n_findings=int(matched.finding_score.size),
        n_candidates=int(sum(image.scores.size for image in images)),
        n_false_positive_candidates=int(matched.fp_score.size),
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
    )


def exam_auc(
    exams: Iterable[ExamScore | Mapping], *, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0
) -> MetricResult:
    """Exam-level ROC AUC (abnormal vs normal exams) with a patient-bootstrap CI (``metrics.roc_auc``; ``n``: exams)."""
    exams = [e if isinstance(e, ExamScore) else ExamScore.from_record(e) for e in exams]
    if not exams:
        raise ValueError("exams: no exams given")
    return roc_auc(
        [e.abnormal for e in exams],
        [e.score for e in exams],
        groups=[e.patient_id for e in exams],
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
    )


@dataclass(frozen=True)
class DetectionResult:
    """FROC operating points and, when exams were given, the exam-level AUC."""

    froc: FrocResult
    exam_auc: MetricResult | None = None

    def as_dict(self) -> dict:
        return {
            **self.froc.as_dict(),
            "exam_auc": None if self.exam_auc is None else self.exam_auc.as_dict(),
            "rules": {
                "hit": f"candidate centre inside the finding box, or IoU >= {HIT_IOU}",
                "duplicates": "a finding counts once; extra hits on a finding are neither true nor false positives",
                "operating_point": "best sensitivity with false positives per image <= the rate, no interpolation",
            },
        }


def evaluate_detection(
    images: Iterable[ImageDetections | Mapping],
    exams: Iterable[ExamScore | Mapping] | None = None,
    *,
    fp_rates: Sequence[float] = FP_RATES,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> DetectionResult:
    """FROC operating points (:func:`froc_at`) and, when ``exams`` are given, the exam AUC (:func:`exam_auc`)."""
    froc = froc_at(images, fp_rates, n_bootstrap, seed, confidence=confidence)
    if exams is None:
        return DetectionResult(froc)
    return DetectionResult(froc, exam_auc(exams, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed))


def write_detection_report(result: DetectionResult, out_dir: str | Path, name: str) -> tuple[Path, Path]:
    """Write ``<name>.json`` (every number, curve included) and ``<name>.csv`` to ``out_dir``; return both paths.

    CSV columns ``REPORT_COLUMNS``: one ``sensitivity`` row per FP rate, a ``mean_sensitivity`` row, and an
    ``exam_auc`` row when the result has one (``fp_per_image`` empty on those two; ``n``: images, or exams).
    """
    if not name or Path(name).name != name:
        raise ValueError(f"name must be a plain file stem without folders, got {name!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out_dir / f"{name}.json", out_dir / f"{name}.csv"
    with open(json_path, "w") as f:
        json.dump({"name": name, **result.as_dict()}, f, indent=2)
    rows = [("sensitivity", rate, m) for rate, m in zip(result.froc.fp_rates, result.froc.sensitivity, strict=True)]
    rows.append(("mean_sensitivity", "", result.froc.mean_sensitivity))
    if result.exam_auc is not None:
        rows.append(("exam_auc", "", result.exam_auc))
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(REPORT_COLUMNS)
        for metric, rate, m in rows:
            writer.writerow([metric, rate, m.value, m.ci_low, m.ci_high, m.n])
    return json_path, csv_path



def paired_detection_differences(
    images_a: Iterable[ImageDetections | Mapping],
    exams_a: Iterable[ExamScore | Mapping],
    images_b: Iterable[ImageDetections | Mapping],
    exams_b: Iterable[ExamScore | Mapping],
    *,
    fp_rate: float = 1.0,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, MetricResult]:
    """Detector A minus detector B on the same images and exams: sensitivity at ``fp_rate`` FP/image and exam
    AUC, each with a CI from one patient bootstrap shared by both detectors (the same patients drawn for A and
    B in every replicate), so that what the two have in common cancels out.

    Raises:
        ValueError: when the two detectors were not run on the same images (ids, patients, findings) and exams.
    """
    images_a = sorted(_as_images(images_a), key=lambda image: image.image_id)
    images_b = sorted(_as_images(images_b), key=lambda image: image.image_id)
    exams_a = sorted((e if isinstance(e, ExamScore) else ExamScore.from_record(e) for e in exams_a),
                     key=lambda exam: exam.study_id)
    exams_b = sorted((e if isinstance(e, ExamScore) else ExamScore.from_record(e) for e in exams_b),
                     key=lambda exam: exam.study_id)
    same_images = [(i.image_id, i.patient_id, i.findings.tolist()) for i in images_a] == [
        (i.image_id, i.patient_id, i.findings.tolist()) for i in images_b]
    same_exams = [(e.study_id, e.patient_id, e.abnormal) for e in exams_a] == [
        (e.study_id, e.patient_id, e.abnormal) for e in exams_b]
    if not (same_images and same_exams):
        raise ValueError("paired detection differences need both detectors run on the same images and exams")
    _check_bootstrap(n_bootstrap, confidence)
    rates = _check_rates([fp_rate])
    codes, n_patients = _group_codes([image.patient_id for image in images_a], len(images_a))
    matched = [_MatchedCandidates(images) for images in (images_a, images_b)]
    points = [m.sensitivity_at(np.ones((1, len(images_a))), rates)[0][0, 0] for m in matched]
    # equal seeds and equal findings: both draw the same patients and redraw the same finding-less replicates
    replicates = [_patient_replicates(m, codes, n_patients, rates, n_bootstrap, seed)[:, 0] for m in matched]
    sensitivity = _interval(points[0] - points[1], replicates[0] - replicates[1], confidence, len(images_a))

    exam_codes, n_exam_patients = _group_codes([exam.patient_id for exam in exams_a], len(exams_a))
    positive = np.asarray([exam.abnormal for exam in exams_a], dtype=bool)
    aucs = [_WeightedAUC(np.asarray([exam.score for exam in exams], dtype=np.float64), positive)
            for exams in (exams_a, exams_b)]

    def difference(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (value_a, valid), (value_b, _) = aucs[0](weights), aucs[1](weights)
        return value_a - value_b, valid

    auc = _cluster_bootstrap(exam_codes, n_exam_patients, difference, n_bootstrap, confidence, seed)
    return {f"sensitivity_at_{fp_rate:g}fp": sensitivity, "exam_auc": auc}
