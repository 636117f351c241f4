"""``heatmap``: lesion heatmaps, candidates and an exam score for one exam's image files, with a trained bundle."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from custom.clear_errors import ClearError
from custom.mammography.data.exam_cache import spacing_assumptions
from custom.mammography.data.files import writable_output
from custom.mammography.data.presets import patch_preset
from custom.mammography.data.spacing import assumed_spacing_warning
from custom.skip_report import SkipReport
from custom.mammography.detection.bundle import calibration_is_current, trained_encoder
from custom.mammography.detection.contralateral import find_contralateral
from custom.mammography.detection.dense import EncoderDenseEmbedder
from custom.mammography.detection.detector import AsymmetryDetector
from custom.mammography.detection.detector import ExamDetection
from custom.mammography.detection.exams import ImageInput, SingleBreastView, exams_from_images, study_images
from custom.mammography.detection.outputs import StudyWriter
from custom.training.precision import MixedPrecision

# "L_CC=path", "RMLO=path", "left-mlo=path": laterality and view for a file that names neither
_NAMED_IMAGE = re.compile(r"^(L|R|LEFT|RIGHT)[_-]?(CC|MLO|ML)=(.+)$", re.IGNORECASE)
_SIDES = {"L": "L", "LEFT": "L", "R": "R", "RIGHT": "R"}


def image_inputs(images: list[str] | tuple[str, ...] | str) -> list[ImageInput]:
    """Images from a list, or from one string of paths separated by commas; ``L_CC=path`` names the breast."""
    if isinstance(images, str):
        images = [part.strip() for part in images.strip("[]").split(",") if part.strip()]
    inputs = []
    for text in map(str, images):
        named = _NAMED_IMAGE.match(text)
        if named:
            side, view, path = named.groups()
            inputs.append(ImageInput(Path(path), _SIDES[side.upper()], "MLO" if view.upper() == "ML" else view.upper()))
        else:
            inputs.append(ImageInput(Path(text)))
    return inputs


def _study_name(paths: list[Path]) -> str:
    parents = {path.absolute().parent.name for path in paths}
    return parents.pop() if len(parents) == 1 else "exam"


def bundle_detector(bundle: str | Path, *, patch: str = "96", device: str | None = None,
                    amp: bool = True) -> AsymmetryDetector:
    """The bundle's calibrated detector (``models/model.pt`` and ``models/detector.json``), ready to
    ``predict_exam``; what :func:`detect_study` and ``pacs-detect`` load once."""
    models = Path(bundle) / "models"
    model_file, calibration_file = models / "model.pt", models / "detector.json"
    if not calibration_file.is_file():
        raise FileNotFoundError(
            f"{calibration_file}: no detector calibration. Training writes it at its end; for a bundle trained "
            "before that, run the bundle's inference config once, from the bundle folder: "
            "python -m monai.bundle run --config_file configs/detect.json (it fits and saves it)"
        )
    if not calibration_is_current(calibration_file, model_file):
        raise ValueError(
            f"{calibration_file} is older than {model_file}: refit it with python -m monai.bundle run "
            "--config_file configs/detect.json --refit_calibration True"
        )
    precision = MixedPrecision(device or ("cuda:0" if torch.cuda.is_available() else "cpu"), enabled=amp)
    embedder = EncoderDenseEmbedder(trained_encoder(model_file, precision.device), int(patch_preset(patch)["patch_size"]),
                                    precision)
    return AsymmetryDetector.load(calibration_file, embedder)


@dataclass
class DetectionRun:
    """What :func:`detect_study` wrote (``summary``: the study's ``detection.json``) and found. ``spacing_warning``:
    the pixel spacing assumed for images that state none, and how to override it (None if no image needed it)."""

    summary: Path
    detections: list[ExamDetection]
    single_breast: list[SingleBreastView]
    unreadable: SkipReport
    spacing_warning: str | None = None


def detect_study(bundle: str | Path, inputs: list[ImageInput], study_id: str, out: str | Path, *, patch: str = "96",
                 downsample: float | None = None, registration: str = "mask", device: str | None = None,
                 amp: bool = True, assumed_pixel_spacing: float | None = None) -> DetectionRun:
    """:func:`heatmap` without the printing: detects on one study's images and writes its outputs to
    ``out/<study_id>/``; also what MONAI Label's heatmap task runs."""
    writable_output(out, folder=True)
    detector = bundle_detector(bundle, patch=patch, device=device, amp=amp)
    preset = patch_preset(patch)
    unreadable = SkipReport()
    exams, single_breast = exams_from_images(
        inputs, study_id, spacing=preset["spacing"], downsample=downsample, assumed_spacing=assumed_pixel_spacing,
        registration=registration, report=unreadable,
    )
    if len(unreadable) == len(inputs):
        raise ValueError(f"none of the {len(inputs)} image(s) of the exam could be read: {unreadable.summary()}")
    detections = [detector.predict_exam(exam) for exam in exams]
    summary = StudyWriter(out)(study_id, detections, single_breast, skipped=unreadable.items)
    spacing_warning = assumed_spacing_warning(spacing_assumptions([exam.geometry for exam in exams]))
    return DetectionRun(summary, detections, single_breast, unreadable, spacing_warning)


def heatmap(
    bundle: str,
    images: list[str] | str | None = None,
    study: str | None = None,
    out: str = "heatmaps",
    patch: str = "96",
    downsample: float | None = None,
    registration: str = "mask",
    device: str | None = None,
    amp: bool = True,
    contralateral_in: str | None = None,
    assumed_pixel_spacing: float | None = None,
) -> None:
    """Detects regions where one breast looks unlike the other, on one exam, with a trained bundle.

    Give the exam as ``--images F1 F2 ...`` (DICOM, PNG or NIfTI; laterality and view from the tags or the
    file names; ``L_CC=F1 R_CC=F2 ...`` names them for files that say nothing) or as ``--study FOLDER`` (every
    image file inside it, sub-folders too). Writes to ``OUT/<study>/``: per image a NIfTI heatmap and a PNG
    overlay in the original pixel grid, and ``detection.json`` with the candidates (original pixels) and the
    exam score. An image that cannot be read, and a view with one breast only, are reported and skipped;
    the other views are still processed. No view with both breasts readable: ``NoHeatmapError`` (the command
    exits with status 2), since nothing was mapped.

    Needs ``<bundle>/models/model.pt`` and the detector calibration ``<bundle>/models/detector.json``, which
    the bundle's training (and its inference config) fits and saves. ``patch``: the patch preset the bundle
    was trained with. ``assumed_pixel_spacing`` (mm): the spacing of files that state none (CBIS-DDSM, PNG);
    without it they are read at their archive's (CBIS-DDSM: the DDSM digitisers' 0.0435 mm) and a warning
    names it. ``downsample``: instead, how many times to shrink such files. ``device``: default the first GPU if
    there is one, else the CPU. ``contralateral_in``: with one image in ``--images``, the folder where the other
    breast of its view is found
    (:mod:`custom.mammography.detection.contralateral`; how MONAI Label's app asks for one image of its datastore).
    """
    if (images is None) == (study is None):
        raise ValueError("give either --images F1,F2,... or --study FOLDER (exactly one of them)")
    inputs = image_inputs(images) if images is not None else [ImageInput(path) for path in study_images(study)]
    if contralateral_in is not None:
        if len(inputs) != 1:
            raise ValueError(f"--contralateral_in needs exactly one image in --images, got {len(inputs)}")
        folder = sorted(path for path in Path(contralateral_in).iterdir() if path.is_file())
        inputs.append(ImageInput(find_contralateral(inputs[0].path, folder)))
    study_id = Path(study).name if study is not None else _study_name([item.path for item in inputs])
    run = detect_study(bundle, inputs, study_id, out, patch=patch, downsample=downsample, registration=registration,
                       device=device, amp=amp, assumed_pixel_spacing=assumed_pixel_spacing)
    if run.spacing_warning:
        for line in run.spacing_warning.splitlines():
            print(f"warning: {line}")
    if run.unreadable.items:
        print(f"warning: {run.unreadable.summary()}")
    for view in run.single_breast:
        print(f"warning: {view.message}")
    detections, summary = run.detections, run.summary
    for detection in detections:
        best = detection.candidates[0] if detection.candidates else None
        where = f", top candidate on {best.side} (score {best.score:.3f})" if best else ", no candidate"
        print(f"{detection.view}: exam score {detection.score:.3f}{where}")
    if not detections:
        raise NoHeatmapError(f"no heatmap written: no view of the exam has both breasts readable (the warnings above "
                             f"say why), so no asymmetry map could be computed; {summary} lists the views")
    print(f"outputs written to {summary.parent}")


class NoHeatmapError(ClearError, ValueError):
    """``heatmap`` made no heatmap at all: the command fails (exit status 2) instead of reporting success."""
