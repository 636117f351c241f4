"""Checkpoint with exact resume for self-supervised training runs declared in bundle configs."""

from __future__ import annotations

import torch

from custom.training import EpochCheckpoint
from custom.ssl.augment import TwoViewAugment


class SSLCheckpoint(EpochCheckpoint):
    """Saves the run at every epoch end and resumes from it at start.

    Writes, atomically, ``checkpoint.pt`` (the whole method: encoder, heads, target network and queue;
    the optimiser; the augmentation generator; trainer progress) and ``model.pt``, the encoder's plain
    ``state_dict`` (loadable into ``SiameseEncoder()`` with ``weights_only=True``). Resuming restores all of
    it, so an interrupted run ends with the same weights as an uninterrupted one.
    """

    def __init__(self, ckpt_dir: str, optimizer: torch.optim.Optimizer, augment: TwoViewAugment, resume: bool = True):
        super().__init__(ckpt_dir, optimizer, {"augment": augment}, resume=resume)

    def export_files(self, network: torch.nn.Module) -> dict[str, dict]:
        return {"model.pt": network.encoder.state_dict()}
