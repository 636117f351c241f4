"""Bilateral subtraction: the oldest computer-aided way of finding masses, used as a reference detector.

The two breasts of a view are aligned; where one is denser than the other at the same place, it may hold a
lesion (masses and calcifications are denser than the tissue they replace). The aligned images are smoothed
at the scale of small lesions and subtracted; the positive part of ``left - right`` is the left breast's map,
that of ``right - left`` the right one's, and the same candidate extraction as the learned detector turns
the maps into ranked candidates. Nothing is learned. On real film pairs this idea found 95 % of masses at
about 3 false positives per image (Yin, Giger et al., Med Phys 1991), which is what the synthetic
benchmark's lesions are calibrated against (``python -m custom calibrate``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from custom.mammography.data.subtraction import bilateral_difference
from custom.mammography.detection.candidates import extract_candidates
from custom.mammography.detection.detector import SIDES, ExamDetection


class BilateralSubtraction(BaseEstimator):
    """Reference detector: smoothed aligned difference of the two breasts, candidates at its peaks.

    Args:
        spacing_mm: pixel spacing of the exams (the cached exams' patch preset spacing).
        smoothing_mm: standard deviation of the Gaussian applied to each breast before subtraction.
        border_mm: band along the breast outline left out (alignment leaves the skin lines apart).
        min_distance_mm: least distance between two candidates of a breast.
        max_candidates: candidates kept per breast.
    """

    def __init__(self, spacing_mm: float = 0.5, smoothing_mm: float = 2.0, border_mm: float = 5.0,
                 min_distance_mm: float = 10.0, max_candidates: int = 10):
        self.spacing_mm = spacing_mm
        self.smoothing_mm = smoothing_mm
        self.border_mm = border_mm
        self.min_distance_mm = min_distance_mm
        self.max_candidates = max_candidates

    def fit(self, exams=None) -> "BilateralSubtraction":
        """Nothing to learn; present so that it can stand wherever a fitted detector is expected."""
        return self

    def difference_maps(self, stack: np.ndarray) -> dict[str, np.ndarray]:
        """Per side, where that breast is denser than the other: ``(H, W)`` maps in ``[0, 1]``."""
        left, right = bilateral_difference(stack, self.spacing_mm, self.smoothing_mm, self.border_mm)
        return {"L": left, "R": right}

    def predict_exam(self, exam) -> ExamDetection:
        """Maps, candidates (both breasts, best first) and exam score (the best candidate's) of one exam."""
        heatmaps = self.difference_maps(np.asarray(exam.load(), dtype=np.float32))
        distance = self.min_distance_mm / self.spacing_mm
        candidates = [c for side in SIDES for c in extract_candidates(
            heatmaps[side], side=side, min_distance=distance, max_candidates=self.max_candidates)]
        candidates.sort(key=lambda candidate: -candidate.score)
        return ExamDetection(
            key=str(exam.key), study_id=str(exam.study_id), view=str(exam.view), heatmaps=heatmaps,
            candidates=candidates, score=candidates[0].score if candidates else 0.0, geometry=dict(exam.geometry),
        )
