"""``python -m custom calibrate-us``: the frozen ultrasound benchmark against published real-data figures.

Nothing here looks at a pretrained network: the figures are the look of the synthetic breast set and how well a
network trained from random weights segments it with all, some or few labels, which say how realistic the
benchmark is, not how good a method is. The targets come from real breast ultrasound
(``docs/benchmark_calibration_us.md`` cites them). Resumable: the benchmark set is written once per version,
and each finished fine-tuning is kept in ``work`` and skipped when the command is run again.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

from custom.bundle_location import bundle_folder
from custom.ultrasound.calibration.baseline import otsu_baseline
from custom.ultrasound.calibration.looks import image_rows, look_figures, measure_set, read_truth
from custom.ultrasound.calibration.report import write_dice_plot, write_feature_figures, write_markdown
from custom.ultrasound.calibration.supervised import FEW, dice_figures, label_fraction_runs
from custom.ultrasound.data_source import UltrasoundDataSource
from custom.ultrasound.runs import QUICK_FINETUNING, FineTuning
from custom.ultrasound.synthetic.benchmark import BENCHMARK_PRESET, BENCHMARK_SEED, ensure_us_benchmark
from custom.ultrasound.synthetic.fingerprint import generator_fingerprint
from custom.ultrasound.synthetic.version import SYNTHETIC_VERSION

logger = logging.getLogger(__name__)

US_BUNDLE = "bundles/breast_us_multiorgan_seg"
CALIBRATION_TRAINING = QUICK_FINETUNING  # the comparison's quick protocol: its label shortage is what is calibrated

# Real-data ranges the frozen version must fall in (SOURCES in report.py says where each comes from).
DICE_TARGETS = {
    "supervised_dice_100": (0.68, 0.80),
    "supervised_iou_100": (0.60, 0.72),
    "dice_20_labelled": (0.40, 0.65),
    "dice_drop_50": (0.01, 0.06),
    "dice_drop_25": (0.04, 0.12),
    "dice_drop_10": (0.10, 0.25),
}
LOOK_TARGETS = {
    "malignant_spiculated_fraction": (0.10, 0.20),
    "malignant_not_circumscribed_fraction": (0.80, 1.0),
    "malignant_taller_than_wide_fraction": (0.40, 0.60),
    "benign_circumscribed_fraction": (0.55, 0.70),
    "benign_taller_than_wide_fraction": (0.05, 0.20),
    "indistinct_margin_fraction": (0.05, 0.50),
    "malignant_shadowing_fraction": (0.30, 0.60),
    "malignant_no_posterior_fraction": (0.30, 0.50),
    "malignant_enhancement_fraction": (0.10, 0.25),
    "benign_no_posterior_fraction": (0.50, 1.0),
    "cyst_enhancement_fraction": (0.80, 1.0),
    "iso_mildly_hypoechoic_fraction": (0.10, 0.40),
    "lesions_in_fat_fraction": (0.05, 0.30),
    "malignant_median_width_mm": (18.0, 23.0),
    "benign_median_width_mm": (13.0, 19.0),
    "benign_two_lesion_fraction": (0.02, 0.06),
    "malignant_two_lesion_fraction": (0.0, 0.02),
    "caliper_fraction": (0.25, 0.42),
    "mask_outline_offset_percent": (1.0, 6.0),
}
TARGETS = {**DICE_TARGETS, **LOOK_TARGETS}


def calibrate_us(data: str | None = None, out: str = "docs", work: str = "calibrate_us_work", *, seed: int = 0,
                 workers: int = 2, training: FineTuning = CALIBRATION_TRAINING, bundle: str = US_BUNDLE) -> dict:
    """Writes (once) the benchmark's breast set under ``data`` (default: the benchmark folder), measures its
    look and the random-initialisation runs (kept in ``work``), and writes ``calibration_us.json``,
    ``benchmark_calibration_us.md`` and ``figures/calibration_us/`` to ``out``."""
    start = time.perf_counter()
    bundle_folder(bundle)  # a wrong bundle stops the command before any work
    out_dir, work_dir = Path(out), Path(work)
    out_dir.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    root = ensure_us_benchmark(data, ("busi",), workers=workers)

    logger.info("look statistics of %s", root)
    truth = read_truth(root)
    lesions = measure_set(root)
    looks = look_figures(lesions, image_rows(truth))

    runs = label_fraction_runs(root, work_dir, training, seed, bundle, BENCHMARK_PRESET)
    supervised = dice_figures(runs)
    test_rows = UltrasoundDataSource(str(root), manifest_file=str(work_dir / "busi_manifest.csv"), seed=seed,
                                     val_fraction=training.val_fraction,
                                     test_fraction=training.test_fraction).rows("test")
    baseline = otsu_baseline(test_rows)

    result = _summary(looks, supervised)
    result["details"] = {"looks": looks, "supervised": supervised, "otsu_baseline": baseline,
                         "training": asdict(training)}
    result["data"] = {"benchmark": str(root), "synthetic_seed": BENCHMARK_SEED, "synthetic_preset": BENCHMARK_PRESET,
                      "images": len(image_rows(truth)), "lesions": len(lesions), "seed": seed,
                      "machine": f"{os.cpu_count()} CPUs, {_threads()} torch threads"}
    result["generator_fingerprint"] = generator_fingerprint()
    result["seconds"] = round(time.perf_counter() - start, 1)
    (out_dir / "calibration_us.json").write_text(json.dumps(result, indent=2) + "\n")
    figures = write_feature_figures(root, lesions, _first_normal(truth), out_dir / "figures" / "calibration_us")
    figures["dice"] = write_dice_plot(supervised, out_dir / "figures" / "calibration_us" / "dice_vs_labels.png")
    write_markdown(result, out_dir / "benchmark_calibration_us.md", figures)
    for key, (low, high) in TARGETS.items():
        verdict = "in range" if result["in_range"][key] else "OUT OF RANGE"
        value, (ci_low, ci_high) = result[key], result[f"{key}_ci"]
        measured = "none to measure" if value is None else f"{value:.3f} [{ci_low:.3f}, {ci_high:.3f}]"
        print(f"{key}: {measured} (target {low}-{high}): {verdict}")
    print(f"curve never rises as the labels shrink: {result['curve_never_rises']}")
    print(f"written to {out_dir} in {result['seconds'] / 60:.1f} min (wall time)")
    return result


def _summary(looks: dict, supervised: dict) -> dict:
    """The headline numbers under the keys the issue names, CIs beside them, targets and verdicts."""
    runs, drops = supervised["runs"], supervised["drops"]
    figures = {
        "supervised_dice_100": runs["100%"]["dice"], "supervised_iou_100": runs["100%"]["iou"],
        "dice_20_labelled": runs[FEW]["dice"],
        "dice_drop_50": drops["50%"], "dice_drop_25": drops["25%"], "dice_drop_10": drops["10%"],
        **{key: looks[key] for key in LOOK_TARGETS},
    }
    summary: dict = {"synthetic_version": SYNTHETIC_VERSION}
    for key, figure in figures.items():
        summary[key] = figure["value"]
        summary[f"{key}_ci"] = [figure["ci_low"], figure["ci_high"]]
    summary["curve_never_rises"] = supervised["never_rises"]
    summary["targets"] = {key: list(bounds) for key, bounds in TARGETS.items()}
    in_range = {key: summary[key] is not None and bool(low <= summary[key] <= high)
                for key, (low, high) in TARGETS.items()}
    in_range["dice_drop_25"] = in_range["dice_drop_25"] and summary["dice_drop_25_ci"][0] > 0
    in_range["curve_never_rises"] = supervised["never_rises"]
    summary["in_range"] = in_range
    return summary


def _first_normal(truth: list[dict]) -> str:
    return next(row["image_id"] for row in truth if row["class_name"] == "normal")


def _threads() -> int:
    import torch

    return torch.get_num_threads()
