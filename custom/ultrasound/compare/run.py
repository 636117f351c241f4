"""Does multi-organ pretraining help breast-lesion segmentation, and at which label fraction?

Every run goes through the bundle's own configs under ``ConfigWorkflow`` (``pretrain.json`` once per
pretraining source, ``train.json`` then ``evaluate.json`` per initialisation and label fraction), on one
data set and one manifest, so that every run is scored on the same test images and the differences between
initialisations are paired per image.
"""

from __future__ import annotations

import csv
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from monai.bundle import ConfigWorkflow

from custom.bundle_location import bundle_folder
from custom.evaluation.segmentation import (
    SegmentationScores, SegmentationTable, paired_segmentation_difference, summarise_segmentation,
)
from custom.ultrasound.compare.report import differences, write_overlays, write_plots
from custom.atomic_write import atomic_write_json, atomic_write_text, replaced_when_done

logger = logging.getLogger(__name__)

US_BUNDLE = "bundles/breast_us_multiorgan_seg"
# pretraining sources of each initialisation ("random" has none), and the part pretrained
INITIALISATIONS = {"random": ((), "encoder"), "multi_organ": (("pocus", "camus"), "encoder"),
                   "lung": (("pocus",), "encoder"), "heart": (("camus",), "encoder"),
                   "natural": (("imagefolder",), "encoder"),
                   "multi_organ_encoder_decoder": (("pocus", "camus"), "encoder_decoder")}


@dataclass(frozen=True)
class ComparePreset:
    """What one comparison trains: the synthetic preset (when the data folder is empty), sizes and budgets."""

    synthetic_preset: str
    image_size: int
    pretrain_epochs: int
    pretrain_batch: int
    finetune_epochs: int
    batch_size: int
    fractions: tuple[float, ...]
    initialisations: tuple[str, ...]
    ssl_method: str = "simclr"
    split: dict = field(default_factory=lambda: {"val_fraction": 0.1, "test_fraction": 0.2})


PRESETS = {
    # seconds: every code path once
    "test": ComparePreset("test", 32, 1, 8, 1, 4, (1.0, 0.5), ("random", "multi_organ"),
                          split={"val_fraction": 0.25, "test_fraction": 0.25}),
    # 2 CPU cores, at most 45 minutes: the paper's two claims at 128 px
    "quick": ComparePreset("default", 128, 15, 64, 25, 8, (1.0, 0.5, 0.25), ("random", "multi_organ")),
    # one GPU: every initialisation of the paper, 256 px, all four fractions
    "paper": ComparePreset("default", 256, 100, 128, 100, 16, (1.0, 0.5, 0.25, 0.1),
                           ("random", "natural", "lung", "heart", "multi_organ", "multi_organ_encoder_decoder")),
}


def compare_us(data: str, out: str, preset: str = "quick", seed: int = 0, bundle: str = US_BUNDLE) -> SegmentationTable:
    """Pretrains, fine-tunes and evaluates every (initialisation, label fraction) of ``preset``; writes
    ``table.md``, ``table.csv``, ``differences.json``, ``dice_vs_label_fraction.png`` and ``overlays.png`` to
    ``out``. An empty ``data`` folder first gets the synthetic ultrasound sets."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    spec, folder, out = PRESETS[preset], bundle_folder(bundle), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # the command's documented behaviour: an empty data folder gets the synthetic sets (synthetic_dir says so)
    common = {"dataset_dir": str(Path(data).absolute()), "synthetic_dir": str(Path(data).absolute()), "seed": seed,
              "image_size": spec.image_size,
              "synthetic_preset": spec.synthetic_preset}
    encoders = {name: _pretrain(folder, out / "pretrain", *INITIALISATIONS[name], spec, common)
                for name in spec.initialisations if INITIALISATIONS[name][0]}
    scores, started = {}, time.perf_counter()
    for name in spec.initialisations:
        for fraction in spec.fractions:
            run_root = out / "runs" / f"{name}_{_percent(fraction)}"
            scores[name, fraction] = _finetune_and_evaluate(folder, run_root, out, encoders.get(name, "random"),
                                                            fraction, spec, common)
            logger.info("%s at %g%% labels done (%.0f s so far)", name, 100 * fraction,
                        time.perf_counter() - started)
    table = _write_results(out, scores, spec)
    fewest = min(spec.fractions)  # overlays at the smallest label fraction, where initialisation matters most
    runs = {f"{name} {100 * fewest:g}%": out / "runs" / f"{name}_{_percent(fewest)}" for name in spec.initialisations}
    write_overlays(out, folder, runs, common, str(out / "busi_manifest.csv"))
    return table


def _percent(fraction: float) -> int:
    return int(round(100 * fraction))


def _workflow(folder: Path, configs: list[str], run_id: str, bundle_root: Path, overrides: dict) -> None:
    files = [str(folder / "configs" / name) for name in configs]
    workflow = ConfigWorkflow(config_file=files if len(files) > 1 else files[0],
                              meta_file=str(folder / "configs" / "metadata.json"),
                              logging_file=str(folder / "configs" / "logging.conf"), workflow_type="train",
                              run_id=run_id, bundle_root=str(bundle_root), **overrides)
    workflow.initialize()
    workflow.run()
    workflow.finalize()


def _pretrain(folder: Path, root: Path, sources: tuple[str, ...], part: str, spec: ComparePreset,
              common: dict) -> str:
    _workflow(folder, ["pretrain.json"], "training", root,
              {**common, "pretrain_sources": list(sources), "pretrained_part": part, "ssl_method": spec.ssl_method,
               "max_epochs": spec.pretrain_epochs, "batch_size": spec.pretrain_batch})
    name = "_".join(sources) + ("" if part == "encoder" else f"_{part}")  # as pretrain.json names the folder
    return str(root / "models" / "pretrained" / f"{spec.ssl_method}_{name}" / "model.pt")


def _finetune_and_evaluate(folder: Path, run_root: Path, out: Path, init: str, fraction: float,
                           spec: ComparePreset, common: dict) -> list[tuple[str, str, SegmentationScores]]:
    overrides = {**common, **spec.split, "init": init, "label_fraction": fraction,
                 "manifest_file": str(out / "busi_manifest.csv"), "batch_size": spec.batch_size}
    if not (run_root / "models" / "model.pt").is_file():
        _workflow(folder, ["train.json"], "training", run_root, {**overrides, "max_epochs": spec.finetune_epochs})
    _workflow(folder, ["train.json", "evaluate.json"], "evaluating", run_root, overrides)
    with open(run_root / "eval" / "scores.csv") as handle:
        return [(row["image_id"], row["group"], _scores(row)) for row in csv.DictReader(handle)]


def _scores(row: dict) -> SegmentationScores:
    return SegmentationScores(float(row["dice"]), float(row["iou"]), float(row["hd95"]), int(row["truth_pixels"]),
                              int(row["prediction_pixels"]), row["unit"])


def _write_results(out: Path, scores: dict, spec: ComparePreset) -> SegmentationTable:
    rows = []
    for (name, fraction), runs in scores.items():
        rows.append(summarise_segmentation([s for _, _, s in runs], [g for _, g, _ in runs], method=name,
                                           label_fraction=fraction))
    table = SegmentationTable(tuple(rows))
    atomic_write_text(out / "table.md", table.to_markdown())
    with replaced_when_done(out / "table.csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table.to_rows()[0]))
        writer.writeheader()
        writer.writerows(table.to_rows())
    atomic_write_json(out / "differences.json", differences(scores, spec, paired_segmentation_difference))
    write_plots(out, table)
    return table
