"""SimCLR: pull the two views of a patch together, push them from every other patch of the batch."""

from __future__ import annotations

import torch
from monai.losses import ContrastiveLoss

from custom.networks import SiameseEncoder
from custom.ssl.base import SSLMethod, full_precision
from custom.ssl.heads import mlp_head


class SimCLR(SSLMethod):
    """NT-Xent (MONAI ``ContrastiveLoss``) on MLP projections of the encoder's pooled features.

    Each view's positive is the other view of its patch; its negatives are the ``2B - 2`` other views in
    the batch, so the batch size sets the number of negatives.

    Args:
        encoder: the shared encoder; its ``features`` feed the projector.
        projection_dim: output size of the projector, where the loss is computed.
        hidden_dim: hidden size of the projector.
        temperature: softmax temperature of the cosine similarities (MONAI's recommended 0.5).
    """

    def __init__(self, encoder: SiameseEncoder, projection_dim: int = 128, hidden_dim: int = 512, temperature: float = 0.5):
        super().__init__(encoder)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.projector = mlp_head(encoder.feature_dim, hidden_dim, projection_dim)
        self.loss_function = ContrastiveLoss(temperature=temperature)

    def forward(self, view_1: torch.Tensor, view_2: torch.Tensor) -> torch.Tensor:
        z_1 = self.projector(self.encoder.features(view_1))
        z_2 = self.projector(self.encoder.features(view_2))
        with full_precision(z_1):
            return self.loss_function(z_1.float(), z_2.float())
