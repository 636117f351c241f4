"""``heatmap``: lesion heatmaps, candidates and an exam score for one exam's image files, with a trained bundle."""

from __future__ import annotations

from pathlib import Path

import torch

from custom.data.presets import patch_preset
from custom.detection.bundle import calibration_is_current, trained_encoder
from custom.detection.dense import EncoderDenseEmbedder
from custom.detection.detector import AsymmetryDetector
from custom.detection.exams import exams_from_images, study_images
from custom.detection.outputs import StudyWriter
from custom.engines.precision import MixedPrecision


def _image_list(images: list[str] | tuple[str, ...] | str) -> list[Path]:
    """Paths from a list, or from one string holding one path or several separated by commas."""
    if isinstance(images, str):
        images = [part.strip() for part in images.strip("[]").split(",") if part.strip()]
    return [Path(image) for image in images]


def _study_name(paths: list[Path]) -> str:
    parents = {path.resolve().parent.name for path in paths}
    return parents.pop() if len(parents) == 1 else "exam"


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
) -> None:
    """Detects regions where one breast looks unlike the other, on one exam, with a trained bundle.

    Give the exam as ``--images F1,F2,...`` (DICOM, PNG or NIfTI; laterality and view from the tags or the
    file names) or as ``--study FOLDER``. Writes to ``OUT/<study>/``: per image a NIfTI heatmap and a PNG
    overlay in the original pixel grid, and ``detection.json`` with the candidates (original pixels) and the
    exam score. A view with one breast only is reported and skipped; the other views are still processed.

    Needs ``<bundle>/models/model.pt`` and the detector calibration ``<bundle>/models/detector.json``, which
    the bundle's inference config fits and saves. ``patch``: the patch preset the bundle was trained with.
    ``downsample``: for files without a pixel spacing (PNG, some DICOM), how many times to shrink them.
    ``device``: default the first GPU if there is one, else the CPU.
    """
    if (images is None) == (study is None):
        raise ValueError("give either --images F1,F2,... or --study FOLDER (exactly one of them)")
    paths = _image_list(images) if images is not None else study_images(study)
    study_id = Path(study).name if study is not None else _study_name(paths)
    models = Path(bundle) / "models"
    model_file, calibration_file = models / "model.pt", models / "detector.json"
    if not calibration_file.is_file():
        raise FileNotFoundError(
            f"{calibration_file}: no detector calibration. Run the bundle's inference config once, from the bundle "
            "folder: python -m monai.bundle run --config_file configs/inference.json (it fits and saves it)"
        )
    if not calibration_is_current(calibration_file, model_file):
        raise ValueError(
            f"{calibration_file} is older than {model_file}: refit it with python -m monai.bundle run "
            "--config_file configs/inference.json --refit_calibration true"
        )
    preset = patch_preset(patch)
    precision = MixedPrecision(device or ("cuda:0" if torch.cuda.is_available() else "cpu"), enabled=amp)
    embedder = EncoderDenseEmbedder(trained_encoder(model_file, precision.device), int(preset["patch_size"]), precision)
    detector = AsymmetryDetector.load(calibration_file, embedder)

    exams, single_breast = exams_from_images(
        paths, study_id, spacing=preset["spacing"], downsample=downsample, registration=registration
    )
    for view in single_breast:
        print(f"warning: {view.message}")
    detections = [detector.predict_exam(exam) for exam in exams]
    summary = StudyWriter(out)(study_id, detections, single_breast)
    for detection in detections:
        best = detection.candidates[0] if detection.candidates else None
        where = f", top candidate on {best.side} (score {best.score:.3f})" if best else ", no candidate"
        print(f"{detection.view}: exam score {detection.score:.3f}{where}")
    if not detections:
        print("no view has both breasts: no asymmetry map could be computed")
    print(f"outputs written to {summary.parent}")
