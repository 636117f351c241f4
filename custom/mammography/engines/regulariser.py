"""The anti-collapse option of the Siamese training (``regulariser`` in ``train.json``), for the co-trained pair.

``"vicreg"``: VICReg's variance and covariance terms on each network's pooled backbone features of the batch,
weighted by ``weight`` and added to the loss (:class:`custom.losses.VarianceCovarianceLoss`). ``"l2sp"``: after
every step the weights move a share ``weight`` of the way back to their start
(:class:`custom.training.StartingPointDecay`). ``"none"``: the paper's recipe.
"""

from __future__ import annotations

import torch
from torch import nn

from custom.losses import VarianceCovarianceLoss
from custom.training import StartingPointDecay

REGULARISERS = ("none", "vicreg", "l2sp")


class PairRegulariser:
    """Holds the chosen term; :meth:`loss` adds to the pair loss, :meth:`after_step` acts on the weights."""

    def __init__(self, kind: str = "none", weight: float = 1.0, network: nn.Module | None = None):
        if kind not in REGULARISERS:
            raise ValueError(f"regulariser must be one of {REGULARISERS}, got {kind!r}")
        if not weight > 0:
            raise ValueError(f"regulariser_weight must be positive, got {weight}")
        if kind == "l2sp" and network is None:
            raise ValueError("the l2sp regulariser needs the network, to remember its starting weights")
        self.kind = kind
        self.weight = float(weight)
        self.spread = VarianceCovarianceLoss() if kind == "vicreg" else None
        self.decay = StartingPointDecay(network, self.weight) if kind == "l2sp" else None

    def loss(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The term to add to the loss for one batch's network ``outputs`` (``features_a``/``features_b``), if any."""
        if self.spread is None:
            return None
        return self.weight * (self.spread(outputs["features_a"]) + self.spread(outputs["features_b"]))

    def after_step(self, network: nn.Module) -> None:
        if self.decay is not None:
            self.decay(network)
