"""The training iteration of two Siamese networks that supervise each other through soft labels."""

from __future__ import annotations

import torch
from ignite.engine import Engine

from custom.mammography.engines.coteaching import CoTeachingSelection
from custom.mammography.engines.pair_augment import PairAugmentation
from custom.mammography.engines.regulariser import PairRegulariser
from custom.mammography.engines.soft_label_bank import SoftLabelBank
from custom.training import unwrap
from custom.training.precision import MixedPrecision


class CoTrainingIteration:
    """``iteration_update`` for a MONAI ``SupervisedTrainer`` whose network is a ``CoTrainedSiamesePair``.

    Both networks embed the pair, through the trainer's ``inferer``; the trainer's loss (a
    ``CrossSoftContrastiveLoss``) receives the soft labels derived from each network, so that A learns from B's
    labels and B from A's. With ``cross=False`` (an ablation) each network learns from its own labels. A
    non-finite loss stops the run with a message saying where and what to try. An ``augment``
    (:class:`PairAugmentation`) transforms both sides of each pair alike before the forward pass.

    Against collapse, optionally, a ``regulariser`` (:class:`~custom.mammography.engines.regulariser.PairRegulariser`):
    a term on the batch's features, or a pull of the weights towards their start after each step. ``selection``
    (:class:`~custom.mammography.engines.coteaching.CoTeachingSelection`) weights the pairs of each network's
    loss term by what its peer finds easiest.
    """

    def __init__(
        self, bank: SoftLabelBank, precision: MixedPrecision, cross: bool = True, augment: PairAugmentation | None = None,
        regulariser: PairRegulariser | None = None, selection: CoTeachingSelection | None = None,
    ):
        self.bank = bank
        self.precision = precision
        self.cross = cross
        self.augment = augment
        self.regulariser = regulariser
        self.selection = selection

    def __call__(self, engine: Engine, batch: dict) -> dict:
        network, optimizer = engine.network, engine.optimizer
        image_a, image_b = batch["image_a"], batch["image_b"]
        if self.augment is not None:
            image_a, image_b = self.augment(image_a, image_b, engine.state.iteration)
        image_a, image_b = self.precision.prepare_input(image_a), self.precision.prepare_input(image_b)
        from_a, from_b = (labels.to(self.precision.device) for labels in self.bank.labels(batch["index"]))
        if not self.cross:
            from_a, from_b = from_b, from_a

        network.train()
        optimizer.zero_grad(set_to_none=True)
        with self.precision.autocast():
            distances = engine.inferer(image_a, network, image_b)
        distance_a, distance_b = distances["distance_a"].float(), distances["distance_b"].float()
        if not (torch.isfinite(distance_a).all() and torch.isfinite(distance_b).all()):
            self._stop(engine, "embedding distance")
        weights = {}
        if self.selection is not None:  # network A trains on from_b (B's labels), B on from_a
            weight_a, weight_b = self.selection(
                engine.state.epoch, distance_a.detach(), distance_b.detach(), from_b, from_a)
            weights = {"weight_a": weight_a, "weight_b": weight_b}
        loss = engine.loss_function(distance_a, distance_b, from_a, from_b,
                                    distances["mismatch_distance_a"].float(), distances["mismatch_distance_b"].float(),
                                    **weights)
        output = {"pair_loss": loss.item()}
        extra = self.regulariser.loss(distances) if self.regulariser is not None else None
        if extra is not None:
            loss = loss + extra
            output["regulariser_loss"] = extra.item()
        if not torch.isfinite(loss):
            self._stop(engine, "loss")
        self.precision.backward_and_step(loss, optimizer)
        if self.regulariser is not None:
            self.regulariser.after_step(unwrap(network))
        return {
            "loss": loss.item(),
            **output,
            "distance_a": distance_a.mean().item(),
            "distance_b": distance_b.mean().item(),
        }

    @staticmethod
    def _stop(engine: Engine, what: str) -> None:
        raise FloatingPointError(
            f"{what} became NaN or infinite at epoch {engine.state.epoch}, iteration {engine.state.iteration}: "
            "training stopped. Lower the learning rate, or turn mixed precision off (--amp False)."
        )
