"""Checkpoints that resume a run exactly, written so that an interruption never leaves a broken file."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from ignite.engine import Engine, Events

from custom.training.atomic import atomic_torch_save
from custom.training.modules import unwrap

logger = logging.getLogger(__name__)


def restore_progress(engine: Engine, progress: dict, checkpoint: Path) -> None:
    """Puts the trainer at a checkpoint's epoch and iteration; a run that had already finished stops at once."""
    engine.state.epoch = int(progress["epoch"])
    engine.state.iteration = int(progress["iteration"])
    logger.info("resumed from %s at epoch %d", checkpoint, engine.state.epoch)
    if engine.state.epoch >= engine.state.max_epochs:
        logger.info("checkpoint already reached max_epochs=%d: nothing left to train", engine.state.max_epochs)
        engine.terminate()


class EpochCheckpoint:
    """Saves a run at every epoch end and resumes from it at start: the base of the training checkpoints.

    ``checkpoint.pt`` holds the network, the optimiser, each object of ``extra_state`` (anything with
    ``state_dict`` / ``load_state_dict``, under its key) and the trainer's progress, written atomically.
    Subclasses add the plain ``state_dict`` files users load (:meth:`export_files`). With ``save=False``
    (non-zero DDP ranks) it only resumes.
    """

    def __init__(self, ckpt_dir: str, optimizer: torch.optim.Optimizer, extra_state: dict,
                 resume: bool = True, save: bool = True):
        self.ckpt_dir = Path(ckpt_dir)
        self.optimizer = optimizer
        self.extra_state = extra_state
        self.resume = resume
        self.save = save

    @property
    def checkpoint_path(self) -> Path:
        return self.ckpt_dir / "checkpoint.pt"

    def attach(self, engine: Engine) -> None:
        if self.resume:
            engine.add_event_handler(Events.STARTED, self.load)
        if self.save:
            engine.add_event_handler(Events.EPOCH_COMPLETED, self.write)

    def export_files(self, network: torch.nn.Module) -> dict[str, dict]:
        """File name -> ``state_dict`` written beside the checkpoint."""
        return {}

    def write(self, engine: Engine) -> None:
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        network = unwrap(engine.network)
        atomic_torch_save(
            {"network": network.state_dict(), "optimizer": self.optimizer.state_dict(),
             **{key: value.state_dict() for key, value in self.extra_state.items()},
             "trainer": {"epoch": engine.state.epoch, "iteration": engine.state.iteration}},
            self.checkpoint_path,
        )
        for name, state in self.export_files(network).items():
            atomic_torch_save(state, self.ckpt_dir / name)

    def load(self, engine: Engine) -> None:
        if not self.checkpoint_path.exists():
            return
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        unwrap(engine.network).load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        for key, value in self.extra_state.items():
            value.load_state_dict(state[key])
        restore_progress(engine, state["trainer"], self.checkpoint_path)
