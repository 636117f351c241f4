"""Unsupervised lesion detection on aligned exams: dense asymmetry -> probabilities -> heatmaps -> candidates.

For one exam (one view, left breast as reference frame, right breast warped onto it):

1. a dense embedder gives one vector per grid cell of each breast (one pass per breast pair);
2. each cell is compared with the closest cell of the other breast within ``search_radius`` cells;
3. the fitted GMM turns that distance into P(this location differs from the other breast);
4. the side is decided per cell: the breast whose embedding lies further from normal tissue (atypicality, see
   :class:`NormalTissueReference`) keeps the probability; the other gets it times
   ``exp(-gap / side_temperature)``, ``gap`` being how many robust standard units it is less atypical;
5. the cell maps are interpolated to full resolution, restricted to where both breasts are (elsewhere 0),
   and local maxima become candidates (:func:`extract_candidates`, at most ``max_candidates`` per breast);
6. the exam score is the highest candidate score, i.e. the most suspicious location of either breast.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from custom.mammography.detection.asymmetry import asymmetry_distances
from custom.mammography.detection.calibration import NormalTissueReference, labeller_from_state, labeller_state
from custom.mammography.detection.candidates import Candidate, extract_candidates
from custom.mammography.detection.dense import DenseEmbedder, cells_to_pixels, grid_shape, sample_at_cells
from custom.labelling import GMMSoftLabeller
from custom.atomic_write import atomic_write_json

logger = logging.getLogger(__name__)

SIDES = ("L", "R")  # channel 0 of an exam stack is the left (reference) breast, channel 1 the aligned right one
CALIBRATION_FORMAT = "mammo-asymmetry-detector"
CALIBRATION_VERSION = 2  # 2: the GMM is the histogram EM (no n_init, random_state)
_NOT_CALIBRATED = (
    "This %(name)s is not calibrated: call fit(exams) on training exams, or AsymmetryDetector.load(path, embedder)"
)


@dataclass
class ExamDetection:
    """Detection output for one exam, everything in the exam's cached reference frame.

    ``heatmaps``: per side (``"L"``, ``"R"``) a float32 ``(H, W)`` map in ``[0, 1]``; the right breast's map
    lives in the left breast's frame, like the exam stack. ``candidates``: both breasts, best first.
    ``score``: the exam score (highest candidate score, 0 without candidates). ``geometry``: the exam's
    per-side mapping back to the image files (see ``custom.mammography.detection.outputs``).
    """

    key: str
    study_id: str
    view: str
    heatmaps: dict[str, np.ndarray]
    candidates: list[Candidate]
    score: float
    geometry: dict[str, dict] = field(default_factory=dict)

    def candidates_of(self, side: str) -> list[Candidate]:
        return [candidate for candidate in self.candidates if candidate.side == side]


@dataclass
class _DenseExam:
    embeddings: np.ndarray  # (2, D, h, w): left, aligned right
    distances: np.ndarray  # (2, h, w): each side's neighbourhood distance to the other
    valid: np.ndarray  # (h, w): cell centre inside both breasts
    both_breasts: np.ndarray  # (H, W)


class AsymmetryDetector(BaseEstimator):
    """Finds where one breast of an exam looks unlike the other, without lesion annotations.

    Args:
        embedder: a dense embedder (``EncoderDenseEmbedder`` or the ``RawPixelDenseEmbedder`` baseline).
        search_radius: neighbourhood radius in grid cells for the asymmetry distance.
        max_candidates: candidates kept per breast.
        min_distance: least distance in pixels between two candidates of a breast; default half a patch.
        candidate_step: candidates are searched on every ``candidate_step``-th pixel of the heatmaps, which
            are interpolated from the ``stride``-px grid and smooth at that scale; default ``stride // 8``.
        side_temperature: how sharply the less atypical breast's probability is scaled down (robust std units).
        max_fit_distances: distances the GMM is fitted on (a deterministic subsample of all valid cells).
        normal_cells_per_exam: cells per normal exam sampled for the normal-tissue reference.
        seed: seed of both subsamples and of the GMM.

    Attributes after ``fit``/``load``: ``labeller_`` (:class:`GMMSoftLabeller`), ``normal_reference_``
    (:class:`NormalTissueReference`), ``n_exams_fit_``.
    """

    def __init__(
        self,
        embedder: DenseEmbedder,
        search_radius: int = 1,
        max_candidates: int = 10,
        min_distance: float | None = None,
        candidate_step: int | None = None,
        side_temperature: float = 1.0,
        max_fit_distances: int = 20000,
        normal_cells_per_exam: int = 200,
        seed: int = 0,
    ):
        self.embedder = embedder
        self.search_radius = search_radius
        self.max_candidates = max_candidates
        self.min_distance = min_distance
        self.candidate_step = candidate_step
        self.side_temperature = side_temperature
        self.max_fit_distances = max_fit_distances
        self.normal_cells_per_exam = normal_cells_per_exam
        self.seed = seed

    def candidate_finder(self) -> CandidateFinder:
        """How this detector turns heatmaps into candidates (its settings with the defaults filled in)."""
        return CandidateFinder.of(self.get_params(deep=False), self._embedder_description())

    # ---- learning from training exams ----

    def fit(self, exams: Iterable) -> "AsymmetryDetector":
        """Calibrates on exams (``ExamRecord``-like: ``load()``, ``is_normal_pair``); no lesion label is used.

        The GMM is fitted on the asymmetry distances of all exams; the normal-tissue reference on cells of
        exams whose both breasts are normal. An archive without such exams (CBIS-DDSM lists only breasts with
        a lesion) gets the reference from the cells of every exam instead, with a warning: lesions cover a
        small share of the tissue, so the reference is mostly normal tissue still.
        """
        if self.side_temperature <= 0:
            raise ValueError(f"side_temperature must be positive, got {self.side_temperature}")
        # one generator per kind of exam: the normal exams' draw stays what it was before the fallback existed
        rngs = {True: np.random.default_rng(self.seed), False: np.random.default_rng([self.seed, 1])}
        distances, used = [], 0
        cells_of: dict[bool, list[np.ndarray]] = {True: [], False: []}
        for exam in exams:
            dense = self._dense(exam.load(), f"exam {exam.key}")
            if not dense.valid.any():
                continue
            used += 1
            distances.append(dense.distances[:, dense.valid].ravel())
            normal = bool(exam.is_normal_pair)
            cells = dense.embeddings[:, :, dense.valid].transpose(0, 2, 1).reshape(-1, dense.embeddings.shape[1])
            pick = rngs[normal].choice(len(cells), min(len(cells), self.normal_cells_per_exam), replace=False)
            cells_of[normal].append(cells[np.sort(pick)])
        normal_cells = cells_of[True]
        if not distances:
            raise ValueError("no fit exam has any location inside both breasts: nothing to calibrate on")
        if not normal_cells:
            logger.warning("none of the %d fit exams has two normal breasts: the normal-tissue reference is fitted on "
                           "the tissue of every exam, lesions included", used)
            normal_cells = cells_of[False]
        distances = np.concatenate(distances)
        if distances.size > self.max_fit_distances:
            distances = rngs[True].choice(distances, self.max_fit_distances, replace=False)
        self.labeller_ = GMMSoftLabeller().fit(distances)
        self.normal_reference_ = NormalTissueReference.fit(np.concatenate(normal_cells))
        self.n_exams_fit_ = used
        return self

    # ---- detection ----

    def predict_exam(self, exam) -> ExamDetection:
        """Heatmaps, candidates and score of one exam (``ExamRecord`` or an in-memory exam with ``load()``)."""
        heat = self.heatmaps(exam.load(), name=f"exam {exam.key}")
        candidates = self.candidate_finder()(heat)
        return ExamDetection(
            key=str(exam.key), study_id=str(exam.study_id), view=str(exam.view),
            heatmaps={side: heat[index] for index, side in enumerate(SIDES)},
            candidates=candidates, score=candidates[0].score if candidates else 0.0, geometry=dict(exam.geometry),
        )

    def heatmaps(self, stack: np.ndarray, name: str = "exam") -> np.ndarray:
        """``(2, H, W)`` heatmaps (left, aligned right) of one exam's ``(4, H, W)`` stack, in its frame."""
        check_is_fitted(self, "labeller_", msg=_NOT_CALIBRATED)
        dense = self._dense(stack, name)
        cell_maps = self._side_probabilities(dense)
        heat = cells_to_pixels(cell_maps, self.embedder.stride, self.embedder.offset, dense.both_breasts.shape)
        return np.clip(heat * dense.both_breasts, 0.0, 1.0).astype(np.float32)

    def _dense(self, stack: np.ndarray, name: str) -> _DenseExam:
        stack = np.asarray(stack, dtype=np.float32)
        if stack.ndim != 3 or stack.shape[0] != 4:
            raise ValueError(f"{name}: expected a (4, H, W) stack, got shape {stack.shape}")
        embeddings = self.embedder(torch.from_numpy(stack[:2, None]))
        both = (stack[2] > 0.5) & (stack[3] > 0.5)
        valid = sample_at_cells(both, self.embedder.stride, self.embedder.offset)
        if tuple(embeddings.shape[-2:]) != valid.shape:
            raise ValueError(
                f"embedder gave a {tuple(embeddings.shape[-2:])} grid for a {stack.shape[1:]} image; "
                f"stride {self.embedder.stride} needs {grid_shape(stack.shape[1:], self.embedder.stride)}"
            )
        embeddings = embeddings.cpu().numpy()
        distances = np.stack(asymmetry_distances(embeddings[0], embeddings[1], self.search_radius))
        return _DenseExam(embeddings, distances, valid, both)

    def _side_probabilities(self, dense: _DenseExam) -> np.ndarray:
        """``(2, h, w)`` per-side probabilities: asymmetry probability, scaled down on the more normal side."""
        maps = np.zeros(dense.distances.shape, dtype=np.float32)
        if not dense.valid.any():
            return maps
        cells = dense.embeddings[:, :, dense.valid]  # (2, D, n)
        atypicality = [self.normal_reference_.atypicality(cells[side].T) for side in range(2)]
        gap = atypicality[0] - atypicality[1]  # > 0: the left breast lies further from normal tissue
        weights = np.exp(-np.maximum(np.stack([-gap, gap]), 0.0) / self.side_temperature)
        probabilities = self.labeller_.predict_proba(dense.distances[:, dense.valid].ravel()).reshape(2, -1)
        maps[:, dense.valid] = probabilities * weights
        return maps

    # ---- persistence ----

    def _embedder_description(self) -> dict:
        return {"type": type(self.embedder).__name__, "patch_size": int(self.embedder.patch_size),
                "stride": int(self.embedder.stride), "offset": float(self.embedder.offset)}

    def save(self, path: str | Path) -> Path:
        """Writes the calibration (GMM, normal-tissue reference, settings) as JSON."""
        check_is_fitted(self, "labeller_", msg=_NOT_CALIBRATED)
        settings = self.get_params(deep=False)
        settings.pop("embedder")
        payload = {
            "format": CALIBRATION_FORMAT,
            "version": CALIBRATION_VERSION,
            "embedder": self._embedder_description(),
            "settings": settings,
            "gmm": labeller_state(self.labeller_),
            "normal_reference": self.normal_reference_.to_dict(),
            "n_exams_fit": self.n_exams_fit_,
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, payload, indent=1)
        return path

    @classmethod
    def load(cls, path: str | Path, embedder: DenseEmbedder) -> "AsymmetryDetector":
        """A calibrated detector from :meth:`save`'s JSON, using ``embedder`` (which must match the saved one)."""
        payload = read_calibration(path)
        detector = cls(embedder, **payload["settings"])
        if payload["embedder"] != detector._embedder_description():
            raise ValueError(
                f"{path}: calibrated for embedder {payload['embedder']}, but given {detector._embedder_description()}"
            )
        detector.labeller_ = labeller_from_state(payload["gmm"])
        detector.normal_reference_ = NormalTissueReference.from_dict(payload["normal_reference"])
        detector.n_exams_fit_ = int(payload["n_exams_fit"])
        return detector


def read_calibration(path: str | Path) -> dict:
    """The content of a calibration file written by :meth:`AsymmetryDetector.save`, checked for format and version."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no detector calibration file")
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a detector calibration (invalid JSON: {error})") from None
    if not isinstance(payload, dict) or payload.get("format") != CALIBRATION_FORMAT:
        raise ValueError(f"{path}: not a detector calibration (format is not {CALIBRATION_FORMAT!r})")
    if payload.get("version") != CALIBRATION_VERSION:
        raise ValueError(f"{path}: calibration version {payload.get('version')}, this code reads {CALIBRATION_VERSION}")
    return payload


@dataclass(frozen=True)
class CandidateFinder:
    """Step 5 of the detector on its own: both breasts' candidates from an exam's ``(2, H, W)`` heatmaps, best
    first. What MONAI's postprocessing of one image needs of a calibration, without the encoder."""

    min_distance: float
    max_candidates: int
    step: int

    @classmethod
    def of(cls, settings: dict, embedder: dict) -> "CandidateFinder":
        """From a detector's settings and its embedder's description (defaults: half a patch, a stride / 8)."""
        distance = settings.get("min_distance")
        step = settings.get("candidate_step")
        return cls(min_distance=float(distance if distance is not None else embedder["patch_size"] / 2),
                   max_candidates=int(settings["max_candidates"]),
                   step=int(step if step is not None else max(1, embedder["stride"] // 8)))

    @classmethod
    def from_calibration(cls, path: str | Path) -> "CandidateFinder":
        payload = read_calibration(path)
        return cls.of(payload["settings"], payload["embedder"])

    def __call__(self, heatmaps: np.ndarray) -> list[Candidate]:
        candidates = [
            candidate for index, side in enumerate(SIDES)
            for candidate in extract_candidates(heatmaps[index], side=side, min_distance=self.min_distance,
                                                max_candidates=self.max_candidates, step=self.step)
        ]
        return sorted(candidates, key=lambda candidate: -candidate.score)
