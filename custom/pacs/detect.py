"""``pacs-detect``: one screening study from the PACS through the bundle's detector, and its results back.

1. check the study from QIDO-RS and its headers (``custom.pacs.study``: four views, MG only, laterality and view
   of every image);
2. retrieve the four images as stored (WADO-RS), read and align them exactly as ``heatmap`` does, and detect;
3. build the results: the candidates as a TID 1500 SR (``custom.pacs.report``) and the heatmaps as colour
   secondary captures (``custom.pacs.overlay``), in new series numbered by ``custom.pacs.runs``'s rule;
4. store them all in one STOW-RS request.

Nothing is written to the PACS before step 4, so every failure of steps 1-3 (an unreachable server, refused
credentials, a missing study, a study that is no four-view MG exam, an image that cannot be decoded, a server
failing halfway) leaves the PACS as it was, and the error says so. The study's own instances are only read.
"""

from __future__ import annotations

import logging
import tempfile
import time
from contextlib import ExitStack
from dataclasses import astuple, dataclass, field
from pathlib import Path

from pydicom.uid import generate_uid

from custom.atomic_write import atomic_write_json
from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.presets import patch_preset
from custom.mammography.detection.cli import bundle_detector
from custom.mammography.detection.detector import ExamDetection
from custom.mammography.detection.exams import AlignedExam, ImageInput, exams_from_images
from custom.mammography.detection.outputs import StudyWriter, candidate_to_original
from custom.pacs.connection import Pacs
from custom.pacs.errors import PacsError
from custom.pacs.overlay import overlay_image, overlay_pixels
from custom.pacs.report import candidate_report
from custom.pacs.runs import IF_DONE, BundleIdentity, description, next_run, runs_of
from custom.pacs.study import ScreeningStudy, check_study, retrieve_images, stored_results

logger = logging.getLogger(__name__)
NOTHING_WRITTEN = "nothing was written to the PACS"


@dataclass
class RunResult:
    """What one study's run found and stored. ``run`` is None when nothing was stored (``--if_done skip`` on a
    study that already holds this bundle version's results; ``series`` then names the latest run's);
    ``candidates`` maps each image's SOPInstanceUID to its candidates (``rank``, ``score``, ``box``, ``centre`` in
    the image's pixels)."""

    study_uid: str
    run: int | None
    series: dict[str, str] = field(default_factory=dict)
    stored: list[str] = field(default_factory=list)
    candidates: dict[str, list[dict]] = field(default_factory=dict)
    view_scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    earlier_runs: list[int] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        """The study's score: the highest view score (as ``detection.json`` has it)."""
        return max(self.view_scores.values()) if self.view_scores else None


def reading_downsample(spacing: float, downsample: float | None, assumed_pixel_spacing: float | None) -> float | None:
    """The reader's ``downsample`` for files without a pixel spacing: given, or from the bundle's option
    ``assumed_pixel_spacing`` (mm) as the bundle's data source computes it."""
    if downsample is not None and assumed_pixel_spacing is not None:
        raise ValueError("give --downsample or --assumed_pixel_spacing, not both")
    if assumed_pixel_spacing is not None:
        if assumed_pixel_spacing <= 0:
            raise ValueError(f"--assumed_pixel_spacing must be positive, got {assumed_pixel_spacing}")
        return spacing / assumed_pixel_spacing
    return downsample


class PacsDetector:
    """A bundle's detector connected to one PACS: loaded once, then called per study (``detector(study_uid)``).

    Args:
        pacs: the DICOMweb server.
        bundle: the bundle folder (``models/model.pt``, ``models/detector.json``, ``configs/metadata.json``).
        patch, registration, device, amp: as for ``heatmap``.
        downsample, assumed_pixel_spacing: for images without a pixel spacing (CBIS-DDSM); see
            :func:`reading_downsample`.
        top: keep at most this many candidates per image in the results (default: all the detector gives).
    """

    def __init__(self, pacs: Pacs, bundle: str | Path, *, patch: str = "96", downsample: float | None = None,
                 assumed_pixel_spacing: float | None = None, registration: str = "mask", device: str | None = None,
                 amp: bool = True, top: int | None = None):
        self.pacs = pacs
        self.identity = BundleIdentity.of(bundle)
        self.detector = bundle_detector(bundle, patch=patch, device=device, amp=amp)
        self.spacing = float(patch_preset(patch)["spacing"])
        self.downsample = reading_downsample(self.spacing, downsample, assumed_pixel_spacing)
        self.registration = registration
        if top is not None and top < 1:
            raise ValueError(f"--top must be at least 1, got {top}")
        self.top = top

    def __call__(self, study_uid: str, *, if_done: str = "new_run", out: str | Path | None = None) -> RunResult:
        """Runs one study. ``if_done``: ``new_run`` (default) adds a numbered run; ``skip`` stores nothing when
        the study already holds a run of this bundle version. ``out``: also write ``heatmap``'s local outputs
        (``out/<study>/detection.json``, NIfTI heatmaps, PNG overlays) and keep the retrieved images there."""
        if if_done not in IF_DONE:
            raise ValueError(f"--if_done must be one of {IF_DONE}, got {if_done!r}")
        seconds: dict[str, float] = {}
        with ExitStack() as cleanup:
            try:
                clock = time.perf_counter()
                study = check_study(self.pacs, study_uid)
                seconds["check"] = time.perf_counter() - clock
                earlier = runs_of(study.results, self.identity)
                result = RunResult(study_uid, None, notes=list(study.notes), seconds=seconds, earlier_runs=earlier)
                if if_done == "skip" and earlier:  # the series of the run that is already there
                    result.series = {item.kind: item.series_uid for item in study.results
                                     if (item.bundle, item.version, item.run) == (*astuple(self.identity), earlier[-1])}
                if if_done == "skip" and earlier and out is None:
                    return result
                folder = (Path(out) / study_uid / "images" if out is not None
                          else Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="pacs-detect-"))))
                clock = time.perf_counter()
                study = retrieve_images(self.pacs, study, folder)
                seconds["retrieve"] = time.perf_counter() - clock
                clock = time.perf_counter()
                detections = self._detect(study)
                seconds["detect"] = time.perf_counter() - clock
                if out is not None:
                    StudyWriter(out)(study_uid, [detection for detection, _ in detections])
                result.candidates, result.view_scores = self._candidates(study, detections)
                if if_done == "skip" and earlier:
                    self._record(result, Path(out))
                    return result
                instances = self._results(study, detections, result)
            except (PacsError, MammogramReadError, ValueError, OSError) as error:
                raise PacsError(f"{error}; {NOTHING_WRITTEN}") from None
            clock = time.perf_counter()
            try:
                self.pacs.store(instances, study_uid)
            except PacsError as error:
                raise PacsError(f"{error}. The results were sent in one STOW-RS request; if the PACS kept part of "
                                f"it, its series are named {description(self.identity, result.run, 'candidates')!r} "
                                f"and {description(self.identity, result.run, 'heatmap')!r}") from None
            seconds["store"] = time.perf_counter() - clock
        result.stored = [str(instance.SOPInstanceUID) for instance in instances]
        if out is not None:
            self._record(result, Path(out))
        return result

    def _record(self, result: RunResult, out: Path) -> None:
        """``out/<study>/pacs.json``: what was stored, beside ``detection.json`` (the MONAI Label app reads it)."""
        record = {"study_uid": result.study_uid, "bundle": self.identity.name, "version": self.identity.version,
                  "run": result.run, "earlier_runs": result.earlier_runs, "series": result.series,
                  "stored": result.stored, "candidates": result.candidates, "view_scores": result.view_scores}
        atomic_write_json(out / result.study_uid / "pacs.json", record)

    def _detect(self, study: ScreeningStudy) -> list[tuple[ExamDetection, AlignedExam]]:
        """Each view's detection, with its exam (whose stack the overlays show)."""
        inputs = [ImageInput(image.path, image.laterality, image.view) for image in study.images]
        try:
            exams, single = exams_from_images(inputs, study.study_uid, spacing=self.spacing,
                                              downsample=self.downsample, registration=self.registration)
        except MammogramReadError as error:
            image = next((image for image in study.images if image.path == Path(error.path)), None)
            which = f"image {image.sop_uid} ({image.name})" if image else str(error.path)
            hint = (" (pacs-detect: --assumed_pixel_spacing MM or --downsample N for images without a pixel spacing)"
                    if "pixel spacing" in error.problem else "")
            raise PacsError(f"{which}: {error.problem}{hint}") from None
        assert not single, "check_study lets only four-view exams through"
        return [(self.detector.predict_exam(exam), exam) for exam in exams]

    def _candidates(self, study: ScreeningStudy, detections) -> tuple[dict[str, list[dict]], dict[str, float]]:
        by_name = {(image.laterality, image.view): image for image in study.images}
        candidates, scores = {}, {}
        for detection, _ in detections:
            scores[detection.view] = float(detection.score)
            for side in ("L", "R"):
                found = [candidate_to_original(c, detection.geometry) for c in detection.candidates_of(side)]
                found = found[: self.top] if self.top else found
                candidates[by_name[(side, detection.view)].sop_uid] = [
                    {"rank": rank, **candidate} for rank, candidate in enumerate(found, 1)]
        return candidates, scores

    def _results(self, study: ScreeningStudy, detections, result: RunResult) -> list:
        """The SR and the overlays of a new run (its number read from the PACS just before)."""
        result.run = next_run(stored_results(self.pacs, study.study_uid), self.identity)
        result.series = {"candidates": generate_uid(), "heatmap": generate_uid()}
        clock = time.perf_counter()
        report = candidate_report(study.images, result.candidates, self.identity, result.run,
                                  result.series["candidates"])
        result.seconds["report"] = time.perf_counter() - clock
        clock = time.perf_counter()
        overlays = []
        by_name = {(image.laterality, image.view): image for image in study.images}
        for detection, exam in detections:
            stack = exam.load()
            for side in ("L", "R"):
                image = by_name[(side, detection.view)]
                pixels = overlay_pixels(detection, stack, side, result.candidates[image.sop_uid])
                overlays.append(overlay_image(image, pixels, bool(detection.geometry[side]["flipped"]), self.identity,
                                              result.run, result.series["heatmap"], len(overlays) + 1,
                                              patient=study.images[0].header))
        result.seconds["overlays"] = time.perf_counter() - clock
        return [report, *overlays]
