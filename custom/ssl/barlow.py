"""Barlow Twins: make the cross-correlation of the two views' projections the identity matrix."""

from __future__ import annotations

import torch
from monai.losses import BarlowTwinsLoss

from custom.networks import SiameseEncoder
from custom.ssl.base import SSLMethod, full_precision
from custom.ssl.heads import mlp_head


class BarlowTwins(SSLMethod):
    """MONAI ``BarlowTwinsLoss`` on MLP projections of the encoder's pooled features.

    MONAI's loss standardises each dimension over the batch (unbiased std) and divides the
    cross-correlation by the batch size ``B``, so even perfectly correlated views leave ``(1/B)^2`` per
    diagonal entry: the floor of the loss is ``projection_dim / B^2``, not 0. Needs ``B >= 2``.

    Args:
        encoder: the shared encoder.
        projection_dim, hidden_dim: sizes of the projector.
        lambd: weight of the off-diagonal (redundancy) terms.
    """

    def __init__(self, encoder: SiameseEncoder, projection_dim: int = 512, hidden_dim: int = 512, lambd: float = 5e-3):
        super().__init__(encoder)
        if lambd < 0:
            raise ValueError(f"lambd must be non-negative, got {lambd}")
        self.projector = mlp_head(encoder.feature_dim, hidden_dim, projection_dim)
        self.loss_function = BarlowTwinsLoss(lambd=lambd)

    def forward(self, view_1: torch.Tensor, view_2: torch.Tensor) -> torch.Tensor:
        z_1 = self.projector(self.encoder.features(view_1))
        z_2 = self.projector(self.encoder.features(view_2))
        with full_precision(z_1):
            return self.loss_function(z_1.float(), z_2.float())
