"""Pretraining of each compared method, resumable per method; returns what the linear probe embeds with."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from monai.bundle import ConfigWorkflow
from torch import nn

from custom.mammography.compare.protocol import SIAMESE_VARIANTS, PresetBudget
from custom.mammography.data.source import MammoDataSource
from custom.evaluation.references import BackboneFeatures, RawPixelEncoder, train_supervised_encoder
from custom.networks import SiameseEncoder, seeded_encoder
from custom.ssl import SSL_METHODS, train_ssl
from custom.training import atomic_torch_save, atomic_write_json

logger = logging.getLogger(__name__)
DONE_FILE = "done.json"


@dataclass
class Pretrained:
    """A method's frozen feature extractor for the probe, and the wall time its pretraining took."""

    features: nn.Module
    pretrain_seconds: float


def pretrain(method: str, *, source: MammoDataSource, pair_dataset, budget: PresetBudget, seed: int,
             device: torch.device, amp: bool, out_dir: Path, bundle: Path) -> Pretrained:
    """Pretrains ``method`` into ``out_dir`` (or loads a finished run from there); the Siamese variants train
    through the configs of ``bundle``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if method in SIAMESE_VARIANTS:
        return _siamese(method, source, budget, seed, device, amp, out_dir, bundle)
    if method in SSL_METHODS:
        start = time.perf_counter()
        encoder = train_ssl(method, pair_dataset, epochs=budget.epochs, batch_size=budget.batch_size,
                            learning_rate=budget.learning_rate, seed=seed, device=device, amp=amp, out_dir=out_dir,
                            method_options={"queue_size": budget.moco_queue_size} if method == "moco" else None)
        log = json.loads((out_dir / "training_log.json").read_text())
        return Pretrained(BackboneFeatures(encoder), float(log.get("wall_seconds", time.perf_counter() - start)))
    if method == "random_init":
        return Pretrained(BackboneFeatures(seeded_encoder(seed + 1000).to(device)), 0.0)
    if method == "raw_pixels":
        return Pretrained(RawPixelEncoder(grid=8), 0.0)
    if method == "supervised":
        return _supervised(source, budget, seed, device, out_dir)
    raise ValueError(f"unknown method {method!r}")


def _finished(out_dir: Path, settings: dict) -> float | None:
    """The recorded wall time of a finished run with these settings, else ``None``."""
    done = out_dir / DONE_FILE
    if not done.exists():
        return None
    record = json.loads(done.read_text())
    return float(record["wall_seconds"]) if record.get("settings") == settings else None


def _mark_done(out_dir: Path, settings: dict, seconds: float) -> None:
    atomic_write_json(out_dir / DONE_FILE, {"settings": settings, "wall_seconds": seconds})


def _siamese(method: str, source: MammoDataSource, budget: PresetBudget, seed: int, device: torch.device,
             amp: bool, out_dir: Path, bundle: Path) -> Pretrained:
    """Our method (or an ablation) through the bundle's own ``train.json``: what users run is what is compared."""
    overrides = {
        "dataset_dir": str(source.dataset_dir), "dataset_format": source.dataset_format,
        "cache_dir": str(source.cache_dir), "patch_preset": source.patch_preset_name, "seed": seed,
        "synthetic_studies": 0, "max_epochs": budget.epochs, "pairs_per_exam": budget.pairs_per_exam,
        "candidate_pairs_per_exam": budget.candidate_pairs_per_exam, "batch_size": budget.batch_size,
        "learning_rate": budget.learning_rate, "amp": amp, "device": f"$torch.device({str(device)!r})",
        "calibrate_detector": False,  # the comparison probes encoders; it needs no detector
        **SIAMESE_VARIANTS[method],
    }
    workflow = ConfigWorkflow(
        config_file=str(bundle / "configs" / "train.json"), meta_file=str(bundle / "configs" / "metadata.json"),
        logging_file=str(bundle / "configs" / "logging.conf"), workflow_type="train", run_id="training",
        bundle_root=str(out_dir), **overrides,
    )
    workflow.initialize()
    seconds = _finished(out_dir, overrides)
    pair = workflow.parser.get_parsed_content("training_def")
    if seconds is None:
        start = time.perf_counter()
        workflow.run()
        seconds = time.perf_counter() - start
        _mark_done(out_dir, overrides, seconds)
    else:
        state = torch.load(out_dir / "models" / "checkpoint.pt", map_location="cpu", weights_only=True)
        pair.load_state_dict(state["network"])
    workflow.finalize()
    encoder = pair.export_encoder("a").float().eval()
    return Pretrained(BackboneFeatures(encoder.to(device)), seconds)


def _supervised(source: MammoDataSource, budget: PresetBudget, seed: int, device: torch.device,
                out_dir: Path) -> Pretrained:
    settings = {"epochs": budget.epochs, "batch_size": budget.batch_size, "learning_rate": budget.learning_rate,
                "seed": seed, "patch_preset": source.patch_preset_name}
    seconds = _finished(out_dir, settings)
    encoder = SiameseEncoder()
    if seconds is None:
        train_patches = source.labelled_dataset(("train",))
        start = time.perf_counter()
        encoder = train_supervised_encoder(train_patches, epochs=budget.epochs, batch_size=budget.batch_size,
                                           learning_rate=budget.learning_rate, seed=seed, device=device)
        seconds = time.perf_counter() - start
        atomic_torch_save(encoder.state_dict(), out_dir / "model.pt")
        _mark_done(out_dir, settings, seconds)
    else:
        encoder.load_state_dict(torch.load(out_dir / "model.pt", map_location="cpu", weights_only=True))
    return Pretrained(BackboneFeatures(encoder.to(device).eval()), seconds)
