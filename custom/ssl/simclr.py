"""SimCLR: pull the two views of a patch together, push them from every other patch of the batch, on every rank."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from custom.distributed import gather_with_gradient, rank_and_world_size
from custom.networks import SiameseEncoder
from custom.ssl.base import SSLMethod, full_precision
from custom.ssl.heads import mlp_head


def nt_xent_loss(z_1: torch.Tensor, z_2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020)
    of this rank's ``(B, D)`` projections of two views, with every rank's views as candidates.

    Each of the ``2B`` local views is an anchor; its candidates are the ``2N`` views of the global batch
    (``N = world size x B``) but itself; the positive is the other view of its patch. The loss is the mean over the
    anchors of ``-log softmax`` of the positive's cosine similarity / ``temperature``, as MONAI's
    ``ContrastiveLoss`` computes it on one process. Candidates from other ranks keep their gradient
    (:func:`custom.distributed.gather_with_gradient`), so the mean of the ranks' losses, and DDP's mean of their
    gradients, are those of one process holding the whole batch.
    """
    z_1, z_2 = F.normalize(z_1, dim=1), F.normalize(z_2, dim=1)
    rank, _ = rank_and_world_size()
    all_1, all_2 = gather_with_gradient(z_1), gather_with_gradient(z_2)
    total, local = len(all_1), len(z_1)
    candidates = torch.cat([all_1, all_2])  # (2N, D): first views of every rank, then second views
    own = rank * local + torch.arange(local, device=z_1.device)  # this rank's patches in the global batch
    anchors = torch.cat([own, own + total])  # where the local views sit among the candidates
    positives = torch.cat([own + total, own])  # and their other views
    logits = torch.cat([z_1, z_2]) @ candidates.t() / temperature
    itself = torch.zeros_like(logits, dtype=torch.bool)
    itself[torch.arange(2 * local, device=z_1.device), anchors] = True
    return F.cross_entropy(logits.masked_fill(itself, float("-inf")), positives)  # an anchor is no candidate


class SimCLR(SSLMethod):
    """NT-Xent (:func:`nt_xent_loss`) on MLP projections of the encoder's pooled features.

    Each view's positive is the other view of its patch; its negatives are the ``2N - 2`` other views of the
    batch on every rank, so the global batch size sets the number of negatives.

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
        self.temperature = float(temperature)
        self.projector = mlp_head(encoder.feature_dim, hidden_dim, projection_dim)

    def forward(self, view_1: torch.Tensor, view_2: torch.Tensor) -> torch.Tensor:
        z_1 = self.projector(self.encoder.features(view_1))
        z_2 = self.projector(self.encoder.features(view_2))
        with full_precision(z_1):
            return nt_xent_loss(z_1.float(), z_2.float(), self.temperature)
