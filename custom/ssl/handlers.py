"""Checkpoint with exact resume for self-supervised training runs declared in bundle configs."""

from __future__ import annotations

from pathlib import Path

import torch
from ignite.engine import Engine, Events

from custom.engines.embedding import unwrap
from custom.engines.handlers import atomic_torch_save, restore_progress
from custom.ssl.augment import TwoViewAugment


class SSLCheckpoint:
    """Saves the run at every epoch end and resumes from it at start.

    Writes, atomically, ``checkpoint.pt`` (the whole method: encoder, heads, target network and queue;
    the optimiser; the augmentation generator; trainer progress) and ``model.pt``, the encoder's plain
    ``state_dict`` (loadable into ``SiameseEncoder()`` with ``weights_only=True``). Resuming restores all of
    it, so an interrupted run ends with the same weights as an uninterrupted one.
    """

    def __init__(self, ckpt_dir: str, optimizer: torch.optim.Optimizer, augment: TwoViewAugment, resume: bool = True):
        self.ckpt_dir = Path(ckpt_dir)
        self.optimizer = optimizer
        self.augment = augment
        self.resume = resume

    @property
    def checkpoint_path(self) -> Path:
        return self.ckpt_dir / "checkpoint.pt"

    def attach(self, engine: Engine) -> None:
        if self.resume:
            engine.add_event_handler(Events.STARTED, self.load)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.write)

    def write(self, engine: Engine) -> None:
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        method = unwrap(engine.network)
        atomic_torch_save(
            {
                "network": method.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "augment": self.augment.state_dict(),
                "trainer": {"epoch": engine.state.epoch, "iteration": engine.state.iteration},
            },
            self.checkpoint_path,
        )
        atomic_torch_save(method.encoder.state_dict(), self.ckpt_dir / "model.pt")

    def load(self, engine: Engine) -> None:
        if not self.checkpoint_path.exists():
            return
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        unwrap(engine.network).load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.augment.load_state_dict(state["augment"])
        restore_progress(engine, state["trainer"], self.checkpoint_path)
