"""What detection needs from the bundle: the trained encoder, and the runnable ``evaluator`` of detect.json."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from custom.mammography.detection.dense import EncoderDenseEmbedder
from custom.mammography.detection.detector import AsymmetryDetector
from custom.networks.siamese import SiameseEncoder

logger = logging.getLogger(__name__)
_PROJECTION_OUTPUT = "projection.2.weight"  # last layer of SiameseEncoder's optional projection head


def _encoder_state(model_file: str | Path, device: torch.device | str) -> dict:
    path = Path(model_file)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trained encoder; train the bundle first (configs/train.json)")
    return torch.load(path, map_location=device, weights_only=True)


def load_weights(encoder: SiameseEncoder, model_file: str | Path, device: torch.device | str = "cpu") -> SiameseEncoder:
    """``encoder`` on ``device`` with the weights of ``model_file`` (a plain state dict)."""
    try:
        encoder.load_state_dict(_encoder_state(model_file, device))
    except RuntimeError as error:
        raise ValueError(
            f"{model_file}: the weights do not fit the configured encoder (is projection_dim the one it was "
            f"trained with?): {error}"
        ) from None
    return encoder.to(device)


def trained_encoder(model_file: str | Path, device: torch.device | str = "cpu") -> SiameseEncoder:
    """The bundle's exported encoder (L2-normalised, as trained), with its projection head if it has one."""
    state = _encoder_state(model_file, device)
    projection_dim = int(state[_PROJECTION_OUTPUT].shape[0]) if _PROJECTION_OUTPUT in state else None
    encoder = SiameseEncoder(projection_dim=projection_dim, normalize=True)
    encoder.load_state_dict(state)
    return encoder.to(device)


def calibration_is_current(calibration_file: str | Path, model_file: str | Path) -> bool:
    """True when the calibration exists and is not older than the encoder it was fitted with."""
    calibration, model = Path(calibration_file), Path(model_file)
    return calibration.is_file() and (not model.is_file() or calibration.stat().st_mtime >= model.stat().st_mtime)


def calibrated_detector(detector: AsymmetryDetector, calibration_file: str | Path, model_file: str | Path,
                        fit_exams: Sequence, refit: bool = False) -> AsymmetryDetector:
    """The detector with the calibration of ``calibration_file`` when current, else fitted on ``fit_exams``
    and saved there; says which in one log line."""
    calibration_file = Path(calibration_file)
    if not refit and calibration_is_current(calibration_file, model_file):
        logger.info("detector calibration: %s", calibration_file)
        return AsymmetryDetector.load(calibration_file, detector.embedder)
    fitted = detector.fit(tqdm(fit_exams, desc="calibrating the detector", unit="exam"))
    fitted.save(calibration_file)
    logger.info("detector calibration fitted on %d exams and saved to %s (used by python -m custom heatmap)",
                fitted.n_exams_fit_, calibration_file)
    return fitted


def calibrate_after_training(model_file: str | Path, calibration_file: str | Path, fit_exams: Sequence,
                             patch_size: int, precision, seed: int = 0, max_exams: int | None = None
                             ) -> AsymmetryDetector:
    """The end of ``train.json``'s run: the detector calibration for the encoder just trained, with the
    default detector settings, so that ``python -m custom heatmap`` works right after training.

    ``max_exams``: calibrate on that many exams, evenly spread over ``fit_exams`` (a GMM on distances and a
    mean normal embedding need a few dozen exams, not a whole archive).
    """
    if max_exams is not None and len(fit_exams) > max_exams:
        fit_exams = [fit_exams[i] for i in np.linspace(0, len(fit_exams) - 1, max_exams).round().astype(int)]
    embedder = EncoderDenseEmbedder(trained_encoder(model_file, precision.device), patch_size, precision)
    return calibrated_detector(AsymmetryDetector(embedder, seed=seed), calibration_file, model_file, fit_exams)


class DetectionRunner:
    """The inference config's ``evaluator``: calibrate (or reuse the calibration), detect, write every study.

    ``run()`` loads ``calibration_file`` when it is current (not older than ``model_file``), else fits the
    detector on ``fit_exams`` and saves it there. A reused calibration brings its own detector settings
    (search radius, candidates, ...); ``refit`` fits anew with the configured ones. Then it detects on every
    exam of ``dataset`` and hands each study's detections to ``postprocessing`` (a :class:`StudyWriter`).

    Args:
        detector: an uncalibrated :class:`AsymmetryDetector` carrying the embedder and settings.
        dataset: exams to detect on (``ExamRecord``s; grouped by study for writing).
        postprocessing: ``(study_id, detections) -> path`` writer.
        calibration_file: where the calibration is read from or saved to.
        model_file: the encoder weights the calibration depends on.
        fit_exams: exams to calibrate on (the training split).
        refit: fit even when a current calibration exists.
    """

    def __init__(
        self,
        detector: AsymmetryDetector,
        dataset: Sequence,
        postprocessing: Callable,
        calibration_file: str | Path,
        model_file: str | Path,
        fit_exams: Sequence,
        refit: bool = False,
    ):
        self.detector = detector
        self.dataset = dataset
        self.postprocessing = postprocessing
        self.calibration_file = Path(calibration_file)
        self.model_file = Path(model_file)
        self.fit_exams = fit_exams
        self.refit = refit

    def run(self) -> list[Path]:
        """Writes each study's outputs; returns the per-study JSON paths."""
        detector = calibrated_detector(self.detector, self.calibration_file, self.model_file, self.fit_exams,
                                       self.refit)
        studies = defaultdict(list)
        for exam in self.dataset:
            studies[exam.study_id].append(exam)
        if not studies:
            raise ValueError("no exam to detect on: the dataset is empty after skipping bad input")
        written = []
        for study_id in tqdm(sorted(studies), desc="detecting", unit="study"):
            detections = [detector.predict_exam(exam) for exam in studies[study_id]]
            written.append(self.postprocessing(study_id, detections))
        print(f"detection: {len(written)} studies, {len(self.dataset)} exams, outputs in {written[0].parent.parent}")
        return written
