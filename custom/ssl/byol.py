"""BYOL: predict the target network's projection of the other view; the target is an EMA of the online net."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from custom.networks import SiameseEncoder
from custom.ssl.base import SSLMethod, full_precision
from custom.ssl.heads import mlp_head
from custom.ssl.momentum import check_momentum, ema_update_, frozen_copy


def normalized_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``|p/|p| - t/|t||^2 = 2 - 2 cos(p, t)``: 0 when aligned, 2 when orthogonal."""
    return (2 - 2 * F.cosine_similarity(prediction, target, dim=1)).mean()


class BYOL(SSLMethod):
    """Online encoder + projector + predictor regressing a momentum target's projection of the other view.

    The loss is symmetric, the sum of both directions (range ``[0, 8]``). The target network
    (``target_encoder``, ``target_projector``) takes no gradient; ``step_end`` (after each optimiser
    step) moves it towards the online network: ``target = m * target + (1 - m) * online``.

    Args:
        encoder: the shared (online) encoder.
        projection_dim, hidden_dim: sizes of the projector and of the predictor (same shapes, with batch norm).
        momentum: EMA momentum ``m`` of the target network.
    """

    def __init__(self, encoder: SiameseEncoder, projection_dim: int = 128, hidden_dim: int = 512, momentum: float = 0.99):
        super().__init__(encoder)
        self.momentum = check_momentum(momentum)
        self.projector = mlp_head(encoder.feature_dim, hidden_dim, projection_dim)
        self.predictor = mlp_head(projection_dim, hidden_dim, projection_dim)
        self.target_encoder = frozen_copy(encoder)
        self.target_projector = frozen_copy(self.projector)

    def _predict(self, view: torch.Tensor) -> torch.Tensor:
        return self.predictor(self.projector(self.encoder.features(view)))

    @torch.no_grad()
    def _target(self, view: torch.Tensor) -> torch.Tensor:
        return self.target_projector(self.target_encoder.features(view))

    def forward(self, view_1: torch.Tensor, view_2: torch.Tensor) -> torch.Tensor:
        p_1, p_2 = self._predict(view_1), self._predict(view_2)
        t_1, t_2 = self._target(view_1), self._target(view_2)
        with full_precision(p_1):
            return normalized_mse(p_1.float(), t_2.float()) + normalized_mse(p_2.float(), t_1.float())

    @torch.no_grad()
    def step_end(self) -> None:
        """EMA update of the target network towards the online one."""
        ema_update_(self.target_encoder, self.encoder, self.momentum)
        ema_update_(self.target_projector, self.projector, self.momentum)
