"""SimSiam: predict one view's projection from the other's, with a stop-gradient instead of negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from custom.networks import SiameseEncoder
from custom.ssl.base import SSLMethod, full_precision
from custom.ssl.heads import mlp_head


def negative_cosine(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``-cos(p, t)``, with no gradient through ``t``: -1 when aligned."""
    return -F.cosine_similarity(prediction, target.detach(), dim=1).mean()


class SimSiam(SSLMethod):
    """Projector (ending in batch norm) + bottleneck predictor; symmetric loss ``(D(p1, z2) + D(p2, z1)) / 2``.

    ``D`` is :func:`negative_cosine`, so the loss lies in ``[-1, 1]`` and reaches -1 when each view's
    prediction points along the other view's projection.

    Args:
        encoder: the shared encoder.
        projection_dim, hidden_dim: sizes of the projector.
        predictor_dim: bottleneck width of the predictor.
    """

    def __init__(self, encoder: SiameseEncoder, projection_dim: int = 512, hidden_dim: int = 512, predictor_dim: int = 128):
        super().__init__(encoder)
        self.projector = mlp_head(encoder.feature_dim, hidden_dim, projection_dim, batch_norm_out=True)
        self.predictor = mlp_head(projection_dim, predictor_dim, projection_dim)

    def forward(self, view_1: torch.Tensor, view_2: torch.Tensor) -> torch.Tensor:
        z_1 = self.projector(self.encoder.features(view_1))
        z_2 = self.projector(self.encoder.features(view_2))
        p_1, p_2 = self.predictor(z_1), self.predictor(z_2)
        with full_precision(z_1):
            return 0.5 * (negative_cosine(p_1.float(), z_2.float()) + negative_cosine(p_2.float(), z_1.float()))
