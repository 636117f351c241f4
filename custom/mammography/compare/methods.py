"""Pretraining of each compared method, resumable per method; returns what the linear probe embeds with."""

from __future__ import annotations

import json
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
from custom.ssl import SSL_METHODS
from custom.training import atomic_torch_save, atomic_write_json

DONE_FILE, STARTED_FILE = "done.json", "started.json"


@dataclass
class Pretrained:
    """A method's frozen feature extractor for the probe, and the wall time its pretraining took."""

    features: nn.Module
    pretrain_seconds: float


def pretrain(method: str, *, source: MammoDataSource, budget: PresetBudget, seed: int, device: torch.device,
             amp: bool, out_dir: Path, bundle: Path) -> Pretrained:
    """Pretrains ``method`` into ``out_dir`` (or loads a finished run from there); the Siamese variants and the
    self-supervised baselines train through the configs of ``bundle``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if method in SIAMESE_VARIANTS or method in SSL_METHODS:
        return _through_bundle(method, source, budget, seed, device, amp, out_dir, bundle)
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


def _config_files(method: str) -> list[str]:
    """The bundle configs ``method`` trains through: ``train.json``, for a baseline with ``train_ssl.json`` and
    the method's own overlay on top."""
    return ["train.json"] if method in SIAMESE_VARIANTS else ["train.json", "train_ssl.json", f"train_{method}.json"]


def check_bundle_configs(bundle: Path, methods: tuple[str, ...]) -> None:
    """Raises ``FileNotFoundError`` naming each config file of ``bundle`` that a method of ``methods`` trains
    through and that is missing, so that a comparison stops before any work rather than midway."""
    needed = {name for method in methods if method in SIAMESE_VARIANTS or method in SSL_METHODS
              for name in _config_files(method)}
    missing = sorted(str(bundle / "configs" / name) for name in needed if not (bundle / "configs" / name).is_file())
    if missing:
        raise FileNotFoundError(f"the comparison trains through bundle configs that are missing: {', '.join(missing)}")


def _method_overrides(method: str, budget: PresetBudget) -> dict:
    """What sets ``method`` apart within its config files: an ablation's switches, MoCo's queue (the budget's,
    kept below the number of training patches)."""
    if method in SIAMESE_VARIANTS:
        return SIAMESE_VARIANTS[method]
    return {"ssl_options#queue_size": budget.moco_queue_size} if method == "moco" else {}


def _through_bundle(method: str, source: MammoDataSource, budget: PresetBudget, seed: int, device: torch.device,
                    amp: bool, out_dir: Path, bundle: Path) -> Pretrained:
    """``method`` through the bundle's own configs under ``ConfigWorkflow``: what users run is what is compared.

    The run's folder is the bundle root, so checkpoints and models land where the configs put them. A run
    interrupted with the same settings resumes from its checkpoint; one started with other settings (a
    different budget, say) starts afresh instead of resuming a checkpoint of those.
    """
    overrides = {
        "dataset_dir": str(source.dataset_dir), "dataset_format": source.dataset_format,
        "cache_dir": str(source.cache_dir), "patch_preset": source.patch_preset_name, "seed": seed,
        "synthetic_studies": 0, "max_epochs": budget.epochs, "pairs_per_exam": budget.pairs_per_exam,
        "candidate_pairs_per_exam": budget.candidate_pairs_per_exam, "batch_size": budget.batch_size,
        "learning_rate": budget.learning_rate, "amp": amp, "device": f"$torch.device({str(device)!r})",
        "calibrate_detector": False,  # the comparison probes encoders; it needs no detector
        **_method_overrides(method, budget),
    }
    config_files = _config_files(method)
    settings = {"config_files": config_files, **overrides}
    seconds = _finished(out_dir, settings)
    resume = seconds is None and _started_with(out_dir) == settings
    if seconds is None:
        atomic_write_json(out_dir / STARTED_FILE, settings)
    configs = bundle / "configs"
    workflow = ConfigWorkflow(
        config_file=[str(configs / name) for name in config_files], meta_file=str(configs / "metadata.json"),
        logging_file=str(configs / "logging.conf"), workflow_type="train", run_id="training",
        bundle_root=str(out_dir), resume=resume, **overrides,
    )
    workflow.initialize()
    if seconds is None:
        start = time.perf_counter()
        workflow.run()
        seconds = time.perf_counter() - start
        _mark_done(out_dir, settings, seconds)
    # the file the config exported, read back the same way after training and on a restart
    encoder = workflow.parser.get_parsed_content("network_def")
    encoder.load_state_dict(torch.load(workflow.parser.get_parsed_content("model_file"), map_location="cpu",
                                       weights_only=True))
    workflow.finalize()
    return Pretrained(BackboneFeatures(encoder.float().eval().to(device)), seconds)


def _started_with(out_dir: Path) -> dict | None:
    """The settings the last run in ``out_dir`` started with, if it recorded them."""
    started = out_dir / STARTED_FILE
    return json.loads(started.read_text()) if started.exists() else None


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
