"""``python -m custom calibrate``: measure the frozen synthetic benchmark against published real-data figures.

Nothing here looks at any self-supervised method: the figures are texture statistics, bilateral subtraction
and a fully supervised classifier, each of which says how realistic the benchmark is, not how good a
method is. The targets come from real mammograms (``docs/benchmark_calibration.md`` cites them).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from pathlib import Path

from custom.mammography.calibration.report import write_exam_figure, write_markdown
from custom.mammography.calibration.subtraction import subtraction_figures
from custom.mammography.calibration.supervised import patch_auc_figures, predict_patches, train_patch_classifier
from custom.mammography.calibration.texture import texture_figures
from custom.mammography.data.pair_dataset import LabelledPatchDataset
from custom.mammography.data.source import benchmark_source
from custom.mammography.data.synthetic.benchmark import CALIBRATION_TRAIN_SET, EVALUATION_SET, benchmark_root
from custom.mammography.data.synthetic.fingerprint import generator_fingerprint
from custom.mammography.data.synthetic.vindr import SYNTHETIC_VERSION
from custom.training.precision import MixedPrecision

logger = logging.getLogger(__name__)

# Real-data ranges the frozen version must fall in (see the module doc of each measurement).
TARGETS = {
    "subtraction_exam_auc": (0.65, 0.85),
    "subtraction_mass_sensitivity_at_3fp": (0.5, 0.9),
    "supervised_patch_auc": (0.90, 1.0),
    "texture_beta": (2.5, 3.5),
    "clip_fraction": (0.0, 0.02),
}


def calibrate(data: str | None = None, out: str = "calibration", *, patch_preset: str = "96", epochs: int = 12,
              texture_studies: int = 100, n_bootstrap: int = 1000, workers: int = 2, seed: int = 0) -> dict:
    """Generates (once) the evaluation and calibration-training sets of this version under ``data`` (default:
    the benchmark folder), measures every calibration figure and writes ``calibration.json``,
    ``benchmark_calibration.md`` and ``figures/calibration_exams.png`` to ``out``."""
    start = time.perf_counter()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    evaluation = benchmark_source(EVALUATION_SET, data, patch_preset=patch_preset, num_workers=workers, seed=seed)
    training = benchmark_source(CALIBRATION_TRAIN_SET, data, patch_preset=patch_preset, num_workers=workers,
                                seed=seed)
    test_exams = evaluation.exams_of("test")
    spacing = float(evaluation.preset["spacing"])

    logger.info("texture statistics on the CC and MLO images of %d evaluation studies", texture_studies)
    manifest = evaluation.manifest
    studies = sorted(manifest["study_id"].unique())[:texture_studies]
    paths = defaultdict(list)
    for row in manifest[manifest["study_id"].isin(studies)].itertuples():
        paths[row.patient_id].append(row.path)
    texture = texture_figures(dict(paths), n_bootstrap=n_bootstrap, seed=seed)

    logger.info("bilateral subtraction on %d evaluation exams", len(test_exams))
    subtraction = subtraction_figures(test_exams, spacing, seed=seed, n_bootstrap=n_bootstrap)

    precision = MixedPrecision("cuda:0" if _has_cuda() else "cpu")
    train_patches = LabelledPatchDataset(training.exams, patch_size=evaluation.patch_size, seed=seed, controls="both")
    test_patches = LabelledPatchDataset(test_exams, patch_size=evaluation.patch_size, seed=seed + 1, controls="both")
    logger.info("supervised classifier: %d training patches (%d lesions), %d test patches (%d lesions)",
                len(train_patches), int(train_patches.abnormal.sum()), len(test_patches),
                int(test_patches.abnormal.sum()))
    supervised_start = time.perf_counter()
    model = train_patch_classifier(train_patches, epochs=epochs, seed=seed, precision=precision)
    supervised = patch_auc_figures(predict_patches(model, test_patches, precision), test_patches,
                                   n_bootstrap=n_bootstrap, seed=seed)
    supervised["training"] = {"patches": len(train_patches), "lesion_patches": int(train_patches.abnormal.sum()),
                              "patients": int(len(set(train_patches.patient_ids))), "epochs": epochs,
                              "seconds": round(time.perf_counter() - supervised_start, 1)}

    result = _summary(texture, subtraction, supervised)
    result["details"] = {"texture": texture, "subtraction": subtraction, "supervised": supervised}
    result["data"] = {
        "benchmark_root": str(benchmark_root(data)), "patch_preset": patch_preset, "spacing_mm": spacing,
        "evaluation_set": vars(EVALUATION_SET), "calibration_train_set": vars(CALIBRATION_TRAIN_SET),
        "skipped_inputs": len(evaluation.report) + len(training.report),
    }
    result["generator_fingerprint"] = generator_fingerprint()
    result["seconds"] = round(time.perf_counter() - start, 1)
    (out_dir / "calibration.json").write_text(json.dumps(result, indent=2) + "\n")
    figure = write_exam_figure(evaluation.manifest, out_dir / "figures" / "calibration_exams.png")
    write_markdown(result, out_dir / "benchmark_calibration.md", figure.relative_to(out_dir))
    for key, (low, high) in TARGETS.items():
        verdict = "in range" if low <= result[key] <= high else "OUT OF RANGE"
        print(f"{key}: {result[key]:.3f} (target {low}-{high}): {verdict}")
    print(f"written to {out_dir} in {result['seconds'] / 60:.1f} min")
    return result


def _summary(texture: dict, subtraction: dict, supervised: dict) -> dict:
    """The headline numbers under the keys the issue tracker and the docs name, CIs beside them."""
    figures = {
        "subtraction_exam_auc": subtraction["overall"]["exam_auc"],
        "subtraction_mass_sensitivity_at_3fp": subtraction["mass"]["sensitivity_at_3fp"],
        "supervised_patch_auc": supervised["all"],
        "texture_beta": texture["beta"],
        "clip_fraction": texture["clip_fraction"],
    }
    summary: dict = {"synthetic_version": SYNTHETIC_VERSION}
    for key, figure in figures.items():
        summary[key] = figure["value"]
        summary[f"{key}_ci"] = [figure["ci_low"], figure["ci_high"]]
    summary["targets"] = {key: list(bounds) for key, bounds in TARGETS.items()}
    summary["in_range"] = {key: bool(low <= summary[key] <= high) for key, (low, high) in TARGETS.items()}
    return summary


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
