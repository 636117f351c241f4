"""How hard the breast set is for a supervised network: FlexibleUNet-ResNet-18 from random weights, through the
bundle's own ``train.json`` and ``evaluate.json``, at 100, 50, 25 and 10% of the training labels and with about
20 labelled images, every run scored on the same test images.

Only random initialisation is trained here: the calibration never looks at a pretrained network. The label
subsets are nested and drawn per class (``UltrasoundDataSource.rows``); every run takes the same optimiser steps
(``custom.ultrasound.runs.FineTuning``). Drops are paired per test image (the run at 100% minus the run at a
fraction), with 95% bootstrap intervals over images (BUSI knows no patients).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from custom.bundle_location import bundle_folder
from custom.evaluation.segmentation import paired_segmentation_difference, summarise_segmentation
from custom.ultrasound.runs import FineTuning, finetune_and_evaluate, run_record, training_images

logger = logging.getLogger(__name__)

FRACTIONS = {"100%": 1.0, "50%": 0.5, "25%": 0.25, "10%": 0.1}
FEW_LABELS = 20  # "about 20 labelled images": limited-annotation studies on BUSI
FEW = "20 images"


def label_fraction_runs(data: str | Path, work: Path, training: FineTuning, seed: int, bundle: str,
                        synthetic_preset: str) -> dict:
    """Every run's per-image scores, its training record and summary, and the paired drops from 100%."""
    folder = bundle_folder(bundle)
    manifest = str(work / "busi_manifest.csv")
    common = {"dataset_dir": str(Path(data).absolute()), "seed": seed, "synthetic_preset": synthetic_preset}
    fractions = {**FRACTIONS, FEW: min(1.0, FEW_LABELS / training_images(common, training, manifest, 1.0))}
    scores, records, started = {}, {}, time.perf_counter()
    for name, fraction in fractions.items():
        run_root = work / "runs" / f"random_{name.replace('%', 'pc').replace(' ', '_')}"
        scores[name] = finetune_and_evaluate(folder, run_root, "random", fraction, training, common, manifest)
        records[name] = run_record(run_root)
        logger.info("random initialisation at %s done (%.0f s so far)", name, time.perf_counter() - started)
    return {"scores": scores, "records": records, "fractions": fractions}


def dice_figures(runs: dict) -> dict:
    """Per run: mean Dice and IoU with CIs; paired Dice drops from 100%; whether the curve never rises as the
    labels shrink."""
    scores = runs["scores"]
    summaries, drops = {}, {}
    for name, rows in scores.items():
        summary = summarise_segmentation([s for _, _, s in rows], [g for _, g, _ in rows], method="random",
                                         label_fraction=runs["fractions"][name])
        summaries[name] = {"dice": summary.dice.as_dict(), "iou": summary.iou.as_dict(),
                           "hd95": summary.hd95.as_dict() if summary.hd95 else None, "n_images": summary.n_images,
                           "n_one_empty": summary.n_one_empty,
                           "training_images": runs["records"][name]["training_images"],
                           "epochs": runs["records"][name]["epochs"], "seconds": runs["records"][name]["seconds"]}
    full = scores["100%"]
    for name, rows in scores.items():
        if name == "100%":
            continue
        if [image for image, _, _ in rows] != [image for image, _, _ in full]:
            raise ValueError(f"the runs at 100% and {name} were not scored on the same test images")
        difference = paired_segmentation_difference([s for _, _, s in full], [s for _, _, s in rows],
                                                    [g for _, g, _ in full])["dice"]
        drops[name] = difference.as_dict()
    order = sorted(summaries, key=lambda name: -runs["fractions"][name])
    means = [summaries[name]["dice"]["value"] for name in order]
    return {"runs": summaries, "drops": drops, "order": order,
            "never_rises": all(a >= b for a, b in zip(means, means[1:], strict=False))}
