"""The ultrasound bundle's configs run from Python, one fine-tuning at a time and resumably: what ``compare-us``
and ``calibrate-us`` both train with.

Every fine-tuning, whatever its label fraction, takes the same number of optimiser steps (:class:`FineTuning`),
so that runs differ in their labels only, not in how long they trained: at 10% of the labels a run makes ten
times as many epochs as at 100%. The best validation checkpoint is kept, as ``train.json`` does.

A finished run leaves ``finetuned.json`` (and its evaluation ``evaluated.json``) in its folder; a command
started again skips what is finished and redoes a run that was interrupted, from its start.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from monai.bundle import ConfigWorkflow

from custom.atomic_write import atomic_write_json
from custom.evaluation.segmentation import SegmentationScores
from custom.ultrasound.data_source import UltrasoundDataSource

logger = logging.getLogger(__name__)

FINETUNED, EVALUATED = "finetuned.json", "evaluated.json"


@dataclass(frozen=True)
class FineTuning:
    """How every fine-tuning of a comparison or calibration trains: the image size (square, pixels), the batch,
    the optimiser steps of every run whatever its label fraction, how many times a run is validated, and the
    data split (shares of the images, drawn per class)."""

    image_size: int
    batch_size: int
    steps: int
    validations: int = 10
    val_fraction: float = 0.1
    test_fraction: float = 0.2

    def schedule(self, n_train: int) -> tuple[int, int]:
        """(epochs, validation interval in epochs) for ``n_train`` images: at least ``steps`` optimiser steps,
        about ``validations`` validations, the last epoch among them."""
        epochs = max(1, math.ceil(self.steps / math.ceil(n_train / self.batch_size)))
        interval = max(1, epochs // self.validations)
        return interval * math.ceil(epochs / interval), interval


# 2 CPU cores: what ``calibrate-us`` calibrates the benchmark with and ``compare-us --preset quick`` compares with
QUICK_FINETUNING = FineTuning(image_size=128, batch_size=16, steps=320)


def run_workflow(folder: Path, configs: list[str], run_id: str, bundle_root: Path, overrides: dict) -> None:
    """Runs ``run_id`` of the bundle in ``folder`` with ``configs`` laid over one another, its outputs under
    ``bundle_root``, the way ``python -m monai.bundle run`` does."""
    files = [str(folder / "configs" / name) for name in configs]
    workflow = ConfigWorkflow(config_file=files if len(files) > 1 else files[0],
                              meta_file=str(folder / "configs" / "metadata.json"),
                              logging_file=str(folder / "configs" / "logging.conf"), workflow_type="train",
                              run_id=run_id, bundle_root=str(bundle_root), **overrides)
    workflow.initialize()
    workflow.run()
    workflow.finalize()


def training_images(common: dict, training: FineTuning, manifest: str, fraction: float) -> int:
    """How many training images ``train.json`` sees at ``fraction`` (the manifest is built first if missing)."""
    source = UltrasoundDataSource(common["dataset_dir"], manifest_file=manifest, seed=common["seed"],
                                  synthetic_preset=common["synthetic_preset"], val_fraction=training.val_fraction,
                                  test_fraction=training.test_fraction)
    return len(source.rows("train", fraction))


def finetune_and_evaluate(folder: Path, run_root: Path, init: str, fraction: float, training: FineTuning,
                          common: dict, manifest: str) -> list[tuple[str, str, SegmentationScores]]:
    """Fine-tunes from ``init`` on ``fraction`` of the training images (``train.json``), evaluates on the test
    split (``evaluate.json``) and returns each test image's id, group and scores. ``common``: the overrides
    every run shares (``dataset_dir``, ``seed``, ``synthetic_preset``); finished steps are skipped."""
    n_train = training_images(common, training, manifest, fraction)
    epochs, interval = training.schedule(n_train)
    overrides = {**common, "val_fraction": training.val_fraction, "test_fraction": training.test_fraction,
                 "init": init, "label_fraction": fraction, "manifest_file": manifest,
                 "batch_size": training.batch_size, "image_size": training.image_size}
    if not (run_root / FINETUNED).is_file():
        started = time.perf_counter()
        logger.info("fine-tuning %s on %d images (%g%% of the labels): %d epochs, %d steps", init, n_train,
                    100 * fraction, epochs, epochs * math.ceil(n_train / training.batch_size))
        run_workflow(folder, ["train.json"], "training", run_root,
                     {**overrides, "max_epochs": epochs, "val_interval": interval})
        atomic_write_json(run_root / FINETUNED, {"init": init, "label_fraction": fraction, "training_images": n_train,
                                                 "epochs": epochs, **asdict(training),
                                                 "seconds": round(time.perf_counter() - started, 1)})
    if not (run_root / EVALUATED).is_file():
        run_workflow(folder, ["train.json", "evaluate.json"], "evaluating", run_root, overrides)
        atomic_write_json(run_root / EVALUATED, {"scores": "eval/scores.csv"})
    with open(run_root / "eval" / "scores.csv") as handle:
        return [(row["image_id"], row["group"], _scores(row)) for row in csv.DictReader(handle)]


def run_record(run_root: Path) -> dict:
    """What ``finetuned.json`` says of a finished run (training images, epochs, seconds)."""
    return json.loads((run_root / FINETUNED).read_text())


def _scores(row: dict) -> SegmentationScores:
    return SegmentationScores(float(row["dice"]), float(row["iou"]), float(row["hd95"]), int(row["truth_pixels"]),
                              int(row["prediction_pixels"]), row["unit"])
