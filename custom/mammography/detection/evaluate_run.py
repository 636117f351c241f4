"""``python -m custom evaluate-detection``: FROC and exam AUC of the trained detector and of the raw-pixel
baseline through the same candidate extraction, on a held-out split."""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from pathlib import Path

import torch
from tqdm import tqdm

from custom.mammography.data.source import MammoDataSource
from custom.mammography.detection import AsymmetryDetector, EncoderDenseEmbedder, RawPixelDenseEmbedder, trained_encoder
from custom.training.precision import MixedPrecision
from custom.mammography.detection.subtraction import BilateralSubtraction
from custom.evaluation.froc import (
    ExamScore,
    ImageDetections,
    evaluate_detection,
    paired_detection_differences,
    write_detection_report,
)
from custom.evaluation.froc_plots import plot_froc

logger = logging.getLogger(__name__)


def detection_records(detector: AsymmetryDetector, exams) -> tuple[list[ImageDetections], list[ExamScore]]:
    """Per breast image: candidates and annotated boxes (both in the exam's cached frame); per study: the
    highest exam score over its views, abnormal when any view holds a finding."""
    images, study_scores, study_truth, study_patient = [], defaultdict(float), Counter(), {}
    for exam in tqdm(exams, desc="detecting", unit="exam"):
        detection = detector.predict_exam(exam)
        for side in ("L", "R"):
            candidates = detection.candidates_of(side)
            images.append(ImageDetections(
                image_id=f"{exam.study_id}/{exam.view}/{side}", patient_id=str(exam.patient_id),
                boxes=[c.box for c in candidates], scores=[c.score for c in candidates],
                findings=[f["box"] for f in exam.findings if f["side"] == side],
            ))
        study_scores[exam.study_id] = max(study_scores[exam.study_id], detection.score)
        study_truth[exam.study_id] |= int(bool(exam.findings))
        study_patient[exam.study_id] = str(exam.patient_id)
    scores = [ExamScore(study_id=s, patient_id=study_patient[s], score=study_scores[s], abnormal=study_truth[s])
              for s in sorted(study_scores)]
    return images, scores


def evaluate_detection_run(bundle: str, out: str, data: str | None = None, dataset_format: str = "vindr",
                           split: str = "test", patch_preset: str = "96", registration: str = "mask", seed: int = 0,
                           device: str | None = None, n_bootstrap: int = 1000) -> dict:
    """Calibrates the detectors on the training split (no lesion labels), detects on held-out exams and writes
    ``<name>.json`` / ``.csv`` per detector, ``froc.png`` and ``summary.json`` (with the Siamese detector's paired
    differences to each reference) to ``out``.

    ``data`` defaults to the bundle's built-in synthetic data set, with the bundle's exam cache; synthetic data of
    the current generator version is tested on the frozen benchmark's evaluation set, other data on ``split``.
    References: bilateral subtraction (``BilateralSubtraction``) and the raw-pixel embedding on the encoder's grid
    through the same asymmetry detector.
    """
    bundle_dir = Path(bundle)
    model_file = bundle_dir / "models" / "model.pt"
    if not model_file.exists():
        raise FileNotFoundError(f"{model_file}: no trained encoder; run the bundle's training first")
    cache_dir = None
    if data is None:
        data, cache_dir = str(bundle_dir / "data" / "synthetic"), str(bundle_dir / "cache")
    source = MammoDataSource(data, dataset_format, cache_dir=cache_dir, patch_preset_name=patch_preset, seed=seed,
                             registration=registration)
    fit_exams, test_exams, tested_on = source.exams_of("train"), *_held_out_exams(source, split)
    if not test_exams:
        raise ValueError(f"{data}: no exam in the {split} split to evaluate on")
    torch_device = torch.device(device or ("cuda:0" if torch.cuda.is_available() else "cpu"))
    encoder = trained_encoder(model_file, torch_device)
    detectors = {
        "siamese": AsymmetryDetector(EncoderDenseEmbedder(encoder, source.patch_size, MixedPrecision(torch_device)),
                                     seed=seed),
        "bilateral_subtraction": BilateralSubtraction(spacing_mm=float(source.preset["spacing"])),
        # the encoder's grid: one cell per 32 px (stride-2 stem and four halvings)
        "raw_pixel": AsymmetryDetector(RawPixelDenseEmbedder(source.patch_size, stride=32), seed=seed),
    }
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary, curves, records = {"tested_on": tested_on, "n_exams": len(test_exams), "data": str(data)}, {}, {}
    for name, detector in detectors.items():
        logger.info("%s detector: calibrating on %d training exams", name, len(fit_exams))
        detector.fit(fit_exams)
        records[name] = detection_records(detector, test_exams)
        result = evaluate_detection(*records[name], n_bootstrap=n_bootstrap, seed=seed)
        write_detection_report(result, out_dir, name)
        curves[name] = result.froc.curve
        summary[name] = result.as_dict()
    summary["siamese_minus"] = {
        reference: {key: value.as_dict() for key, value in paired_detection_differences(
            *records["siamese"], *records[reference], n_bootstrap=n_bootstrap, seed=seed).items()}
        for reference in ("bilateral_subtraction", "raw_pixel")
    }
    plot_froc(curves, out_dir / "froc.png", title=f"FROC on {tested_on}")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    for name in detectors:
        print(_summary_line(name, summary[name]))
    for reference, differences in summary["siamese_minus"].items():
        print(f"siamese minus {reference}: " + ", ".join(
            f"{key} {d['value']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]" for key, d in differences.items()))
    return summary


def _held_out_exams(source: MammoDataSource, split: str) -> tuple[list, str]:
    """The exams to detect on and what they are: the benchmark's evaluation set for current synthetic data."""
    from custom.mammography.data.synthetic import SYNTHETIC_VERSION, synthetic_version_of
    from custom.mammography.data.source import benchmark_source
    from custom.mammography.data.synthetic.benchmark import EVALUATION_SET

    if synthetic_version_of(source.dataset_dir) != SYNTHETIC_VERSION:
        return source.exams_of(split), f"the {split} split"
    evaluation = benchmark_source(EVALUATION_SET, patch_preset=source.patch_preset_name, seed=source.seed)
    return evaluation.exams_of("test"), f"the benchmark evaluation set (synthetic v{SYNTHETIC_VERSION})"


def _summary_line(name: str, result: dict) -> str:
    at_one = next(p for p in result["sensitivity"] if p["fp_per_image"] == 1)
    auc = result["exam_auc"]
    return (f"{name}: sensitivity at 1 FP/image {at_one['value']:.3f} [{at_one['ci_low']:.3f}, {at_one['ci_high']:.3f}], "
            f"exam AUC {auc['value']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}]")
