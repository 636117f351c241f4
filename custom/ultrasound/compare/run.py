"""Does multi-organ pretraining help breast-lesion segmentation, and at which label fraction?

Every run goes through the bundle's own configs under ``ConfigWorkflow`` (``pretrain.json`` once per
pretraining source and method, ``train.json`` then ``evaluate.json`` per initialisation and label fraction), on
one data set and one manifest, so that every run is scored on the same test images and the differences between
initialisations are paired per image. The quick and paper presets run on the frozen ultrasound benchmark
(``custom.ultrasound.synthetic.benchmark``) unless given other data; the quick preset fine-tunes exactly as
``calibrate-us`` calibrated that benchmark (``custom.ultrasound.runs.QUICK_FINETUNING``).

Resumable: a finished pretraining or fine-tuning is kept under ``out`` and skipped when the command is run again;
an interrupted pretraining resumes from its last epoch.
"""

from __future__ import annotations

import csv
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from custom.atomic_write import atomic_write_json, atomic_write_text, replaced_when_done
from custom.bundle_location import bundle_folder
from custom.evaluation.segmentation import (
    SegmentationTable, paired_segmentation_difference, summarise_segmentation,
)
from custom.ultrasound.compare.report import differences, write_differences, write_overlays, write_plots
from custom.ultrasound.runs import QUICK_FINETUNING, FineTuning, finetune_and_evaluate, run_workflow

logger = logging.getLogger(__name__)

US_BUNDLE = "bundles/breast_us_multiorgan_seg"
# pretraining sources of each initialisation ("random" has none), and the part pretrained
INITIALISATIONS = {"random": ((), "encoder"), "multi_organ": (("pocus", "camus"), "encoder"),
                   "lung": (("pocus",), "encoder"), "heart": (("camus",), "encoder"),
                   "natural": (("imagefolder",), "encoder"),
                   "multi_organ_encoder_decoder": (("pocus", "camus"), "encoder_decoder")}
SOURCE_SETS = {"pocus": "pocus", "camus": "camus", "imagefolder": "natural"}  # pretraining source -> synthetic set
PRETRAINED = "pretrained.json"


@dataclass(frozen=True)
class ComparePreset:
    """What one comparison trains: its data (the frozen benchmark, or a synthetic preset written into an empty
    data folder), the fine-tuning protocol, pretraining budgets, label fractions, initialisations and methods."""

    synthetic_preset: str
    benchmark: bool
    training: FineTuning
    pretrain_epochs: int
    pretrain_batch: int
    fractions: tuple[float, ...]
    initialisations: tuple[str, ...]
    ssl_methods: tuple[str, ...] = ("simclr",)


PRESETS = {
    # seconds: every code path once, on a handful of synthetic images written into the data folder
    "test": ComparePreset("test", False, FineTuning(32, 4, steps=2, validations=1, val_fraction=0.25,
                                                    test_fraction=0.25),
                          1, 8, (1.0, 0.5), ("random", "multi_organ")),
    # 2 CPU cores, within an hour on the frozen benchmark: the paper's "half the labels" claim
    "quick": ComparePreset("benchmark", True, QUICK_FINETUNING, 15, 64, (1.0, 0.5, 0.25), ("random", "multi_organ")),
    # one GPU: the paper's design, every initialisation and method, 256 px, all four fractions
    "paper": ComparePreset("benchmark", True, FineTuning(256, 16, steps=3000, validations=20), 100, 128,
                           (1.0, 0.5, 0.25, 0.1),
                           ("random", "natural", "lung", "heart", "multi_organ", "multi_organ_encoder_decoder"),
                           ("simclr", "moco", "simsiam")),
}


def compare_us(data: str | None, out: str, preset: str = "quick", seed: int = 0, bundle: str = US_BUNDLE,
               workers: int = 2) -> SegmentationTable:
    """Pretrains, fine-tunes and evaluates every (initialisation, method, label fraction) of ``preset``; writes
    ``table.md``, ``table.csv``, ``differences.json``, ``differences.md``, ``dice_vs_label_fraction.png``,
    ``differences.png`` and ``overlays.png`` to ``out``. ``data``: a folder of data sets in the real layouts (an
    empty one first gets the preset's synthetic sets); None: the frozen benchmark (written once, in ``workers``
    processes)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    spec, folder, out = PRESETS[preset], bundle_folder(bundle), Path(out)
    started = time.perf_counter()
    data = _data_folder(data, spec, workers)
    out.mkdir(parents=True, exist_ok=True)
    # the command's documented behaviour: an empty data folder gets the synthetic sets (synthetic_dir says so)
    common = {"dataset_dir": str(Path(data).absolute()), "synthetic_dir": str(Path(data).absolute()), "seed": seed,
              "synthetic_preset": spec.synthetic_preset}
    manifest = str(out / "busi_manifest.csv")
    runs = _initialisations(spec)
    encoders = {label: _pretrain(folder, out / "pretrain", name, method, spec, common)
                for label, (name, method) in runs.items() if name != "random"}
    scores = {}
    for label in runs:
        for fraction in spec.fractions:
            run_root = out / "runs" / f"{label}_{_percent(fraction)}"
            scores[label, fraction] = finetune_and_evaluate(folder, run_root, encoders.get(label, "random"), fraction,
                                                            spec.training, common, manifest)
            logger.info("%s at %g%% labels done (%.0f s so far)", label, 100 * fraction,
                        time.perf_counter() - started)
    table = _write_results(out, scores)
    fewest = min(spec.fractions)  # overlays at the smallest label fraction, where initialisation matters most
    overlay_runs = {f"{label} {100 * fewest:g}%": out / "runs" / f"{label}_{_percent(fewest)}" for label in runs}
    write_overlays(out, folder, overlay_runs, {**common, "image_size": spec.training.image_size}, manifest)
    atomic_write_json(out / "run.json", {"preset": preset, "data": common["dataset_dir"], "seed": seed,
                                         "minutes": round((time.perf_counter() - started) / 60, 1)})
    return table


def _data_folder(data: str | None, spec: ComparePreset, workers: int) -> str:
    """``data``, or the frozen benchmark with the breast set and every set the preset pretrains on."""
    if data is not None:
        return data
    if not spec.benchmark:
        raise ValueError("this preset needs --data: a folder of data sets, or an empty one for its synthetic sets")
    from custom.ultrasound.synthetic.benchmark import ensure_us_benchmark

    sources = {source for name in spec.initialisations for source in INITIALISATIONS[name][0]}
    sets = ("busi", *sorted(SOURCE_SETS[source] for source in sources))
    return str(ensure_us_benchmark(None, sets, workers=workers))


def _initialisations(spec: ComparePreset) -> dict[str, tuple[str, str | None]]:
    """Run label -> (initialisation, method): one per pretrained initialisation and method, the method named in
    the label when the preset compares several."""
    runs: dict[str, tuple[str, str | None]] = {}
    for name in spec.initialisations:
        if name == "random":
            runs[name] = (name, None)
            continue
        for method in spec.ssl_methods:
            runs[name if len(spec.ssl_methods) == 1 else f"{name}_{method}"] = (name, method)
    return runs


def _percent(fraction: float) -> int:
    return int(round(100 * fraction))


def _pretrain(folder: Path, root: Path, name: str, method: str, spec: ComparePreset, common: dict) -> str:
    sources, part = INITIALISATIONS[name]
    pretrained = "_".join(sources) + ("" if part == "encoder" else f"_{part}")  # as pretrain.json names the folder
    model = root / "models" / "pretrained" / f"{method}_{pretrained}" / "model.pt"
    if not (model.parent / PRETRAINED).is_file():
        started = time.perf_counter()
        run_workflow(folder, ["pretrain.json"], "training", root,
                     {**common, "pretrain_sources": list(sources), "pretrained_part": part, "ssl_method": method,
                      "max_epochs": spec.pretrain_epochs, "batch_size": spec.pretrain_batch,
                      "image_size": spec.training.image_size})
        atomic_write_json(model.parent / PRETRAINED, {"epochs": spec.pretrain_epochs,
                                                      "seconds": round(time.perf_counter() - started, 1)})
    return str(model)


def _write_results(out: Path, scores: dict) -> SegmentationTable:
    rows = []
    for (label, fraction), runs in scores.items():
        rows.append(summarise_segmentation([s for _, _, s in runs], [g for _, g, _ in runs], method=label,
                                           label_fraction=fraction))
    table = SegmentationTable(tuple(rows))
    atomic_write_text(out / "table.md", table.to_markdown())
    with replaced_when_done(out / "table.csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table.to_rows()[0]))
        writer.writeheader()
        writer.writerows(table.to_rows())
    found = differences(scores, paired_segmentation_difference)
    atomic_write_json(out / "differences.json", found)
    write_differences(out, found)
    write_plots(out, table, found)
    return table
