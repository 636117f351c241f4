"""Pretraining one self-supervised method on the pair dataset's patches, outside any bundle config.

The comparison run calls :func:`train_ssl` once per method with the same data, seed and budget. A finished
run leaves ``model.pt`` (the encoder's ``state_dict``), ``settings.json`` (what was asked for) and
``training_log.json`` (loss per epoch, steps, wall time) in its folder; calling again with the same
settings loads that encoder instead of training again, so an interrupted comparison resumes per method.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
from ignite.engine import Engine, Events
from monai.engines import SupervisedTrainer
from torch.utils.data import DataLoader, Dataset

from custom.networks import SiameseEncoder, seeded_encoder
from custom.ssl.augment import TwoViewAugment
from custom.ssl.dataset import SinglePatchDataset
from custom.ssl.engine import SSLIteration
from custom.ssl.registry import build_ssl_method, check_ssl_method
from custom.training import atomic_torch_save, atomic_write_json
from custom.training.precision import MixedPrecision

# the optimiser of the bundle's train.json (AdamW, weight decay 1e-4), so every method gets the same one
WEIGHT_DECAY = 1e-4
MODEL_FILE, SETTINGS_FILE, LOG_FILE = "model.pt", "settings.json", "training_log.json"

logger = logging.getLogger(__name__)


def train_ssl(
    method_name: str,
    pair_dataset: Dataset,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    device: str | torch.device,
    amp: bool,
    out_dir: str | Path,
    max_steps: int | None = None,
    method_options: dict | None = None,
) -> SiameseEncoder:
    """Pretrains ``seeded_encoder(seed)`` with one method and returns it (eval mode, on ``device``).

    Training sees both sides of every pair as single patches (:class:`SinglePatchDataset`), shuffled and
    augmented from ``seed``, in batches of ``batch_size`` (the last incomplete batch is dropped), for
    ``epochs`` epochs or ``max_steps`` optimiser steps, whichever comes first.

    Args:
        method_name: a key of :data:`custom.ssl.SSL_METHODS`.
        pair_dataset: items with ``image_a`` and ``image_b`` patches.
        amp: bf16 autocast + channels-last where the device supports it (see ``MixedPrecision``).
        out_dir: where ``model.pt``, ``settings.json`` and ``training_log.json`` go.
        method_options: keyword options of the method (say ``{"queue_size": 1024}`` for MoCo).

    Raises:
        ValueError: unknown method or option, non-positive sizes, or fewer patches than one batch.
    """
    method_options = dict(method_options or {})
    check_ssl_method(method_name, method_options)
    _check_budget(epochs, batch_size, learning_rate, max_steps)
    patches = SinglePatchDataset(pair_dataset)
    if len(patches) < batch_size:
        raise ValueError(f"batch_size={batch_size} is larger than the {len(patches)} training patches")
    out_dir = Path(out_dir)
    settings = {
        "method": method_name, "method_options": method_options, "epochs": epochs, "batch_size": batch_size,
        "learning_rate": learning_rate, "weight_decay": WEIGHT_DECAY, "seed": seed, "amp": bool(amp),
        "max_steps": max_steps, "patches": len(patches), "patch_shape": list(patches[0]["image"].shape),
    }
    device = torch.device(device)
    if _finished(out_dir, settings):
        logger.info("%s: finished run with the same settings found in %s, not training again", method_name, out_dir)
        return _load_encoder(out_dir / MODEL_FILE, device)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SETTINGS_FILE).unlink(missing_ok=True)  # a run in progress never looks finished
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        method = build_ssl_method(method_name, seeded_encoder(seed), **method_options)
    precision = MixedPrecision(device, enabled=amp)
    network = precision.prepare_model(method.to(device))
    optimizer = torch.optim.AdamW(network.parameters(), lr=learning_rate, weight_decay=WEIGHT_DECAY)
    loader = DataLoader(
        patches, batch_size=batch_size, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(seed)
    )
    trainer = SupervisedTrainer(
        device=device, max_epochs=epochs, train_data_loader=loader, network=network, optimizer=optimizer,
        loss_function=None, iteration_update=SSLIteration(TwoViewAugment(seed=seed), precision), decollate=False,
    )
    if max_steps is not None:
        trainer.add_event_handler(Events.ITERATION_COMPLETED(once=max_steps), lambda engine: engine.terminate())
    epoch_losses = _record_epoch_losses(trainer)

    start = time.perf_counter()
    trainer.run()
    wall_seconds = time.perf_counter() - start

    atomic_torch_save(method.encoder.state_dict(), out_dir / MODEL_FILE)
    atomic_write_json(out_dir / LOG_FILE, {
        "method": method_name, "steps": trainer.state.iteration, "epoch_mean_loss": epoch_losses,
        "wall_seconds": wall_seconds, "device": str(device), "autocast_dtype": str(precision.dtype),
    })
    atomic_write_json(out_dir / SETTINGS_FILE, settings)
    logger.info("%s: %d steps in %.1f s, last epoch mean loss %.4f", method_name, trainer.state.iteration,
                wall_seconds, epoch_losses[-1])
    return _load_encoder(out_dir / MODEL_FILE, device)


def _check_budget(epochs: int, batch_size: int, learning_rate: float, max_steps: int | None) -> None:
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (batch statistics and negatives need two samples), got {batch_size}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1 or None, got {max_steps}")


def _record_epoch_losses(trainer: Engine) -> list[float]:
    """Mean training loss of every epoch, appended as epochs (or an early stop) complete."""
    running: list[float] = []
    means: list[float] = []

    def add(engine: Engine) -> None:
        running.append(engine.state.output["loss"])

    def close(engine: Engine) -> None:
        if running:
            means.append(sum(running) / len(running))
            running.clear()

    trainer.add_event_handler(Events.ITERATION_COMPLETED, add)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, close)
    trainer.add_event_handler(Events.TERMINATE, close)
    return means


def _finished(out_dir: Path, settings: dict) -> bool:
    settings_path, model_path = out_dir / SETTINGS_FILE, out_dir / MODEL_FILE
    if not (settings_path.exists() and model_path.exists()):
        return False
    try:
        return json.loads(settings_path.read_text()) == json.loads(json.dumps(settings))
    except json.JSONDecodeError:
        return False


def _load_encoder(path: Path, device: torch.device) -> SiameseEncoder:
    encoder = SiameseEncoder()
    encoder.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return encoder.to(device).eval()


