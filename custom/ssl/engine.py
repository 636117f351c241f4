"""The training iteration shared by every self-supervised method, for a MONAI ``SupervisedTrainer``."""

from __future__ import annotations

import torch
from ignite.engine import Engine

from custom.training import unwrap
from custom.training.precision import MixedPrecision
from custom.ssl.augment import TwoViewAugment


class SSLIteration:
    """``iteration_update`` for a trainer whose network is an :class:`custom.ssl.base.SSLMethod`.

    One step: augment the batch's patches into two views, compute the method's loss under mixed precision (the
    network called through the trainer's ``inferer``), back-propagate, step the optimiser, then call the method's
    ``step_end()`` (momentum update and MoCo's enqueue). The trainer's ``loss_function`` is not used: each
    method holds its own loss. A non-finite loss stops the run with a message saying where and what to try.
    """

    def __init__(self, augment: TwoViewAugment, precision: MixedPrecision):
        self.augment = augment
        self.precision = precision

    def __call__(self, engine: Engine, batch: dict) -> dict:
        network, optimizer = engine.network, engine.optimizer
        images = batch["image"].to(self.precision.device, non_blocking=True)
        view_1, view_2 = (self.precision.prepare_input(view) for view in self.augment(images))

        network.train()
        optimizer.zero_grad(set_to_none=True)
        with self.precision.autocast():
            loss = engine.inferer(view_1, network, view_2)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"self-supervised loss became NaN or infinite at epoch {engine.state.epoch}, iteration "
                f"{engine.state.iteration}: training stopped. Lower the learning rate, or turn mixed precision off "
                "(amp false)."
            )
        self.precision.backward_and_step(loss, optimizer)
        unwrap(network).step_end()
        return {"loss": loss.item()}
