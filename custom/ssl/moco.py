"""MoCo v2: contrast each query with its momentum-encoded key and a queue of keys from earlier batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from custom.distributed import gather_tensors
from custom.networks import SiameseEncoder
from custom.ssl.base import SSLMethod, full_precision
from custom.ssl.heads import mlp_head
from custom.ssl.momentum import check_momentum, ema_update_, frozen_copy


def info_nce_loss(query: torch.Tensor, key: torch.Tensor, negatives: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of L2-normalised vectors: cross-entropy of picking the positive key among the negatives.

    Logits of query ``i`` are ``[q_i . k_i, q_i . n_1, ..., q_i . n_K] / temperature`` and the target is
    class 0, averaged over the batch.

    Args:
        query: ``(B, D)`` normalised queries.
        key: ``(B, D)`` normalised positive keys (row ``i`` belongs to query ``i``).
        negatives: ``(K, D)`` normalised negative keys shared by every query.
        temperature: softmax temperature.
    """
    positive = (query * key).sum(dim=1, keepdim=True)
    logits = torch.cat([positive, query @ negatives.t()], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(query), dtype=torch.long, device=query.device))


class MoCo(SSLMethod):
    """MoCo v2 with a symmetrised loss: each view is a query for the other view's key.

    Keys come from a momentum copy of encoder + projector. Order within a training step: ``forward`` computes
    the loss and remembers this batch's keys; after the optimiser step, ``step_end`` moves the key network
    towards the online one (``key = m * key + (1 - m) * online``) and pushes the remembered keys of both
    views into the FIFO queue, overwriting the oldest. ``forward`` alone never changes the queue or the key
    network, so evaluating the loss has no side effect beyond batch-norm statistics. Under torchrun every rank
    enqueues the keys of every rank, so the queues stay equal across ranks and hold the whole global batch's keys
    (DDP's broadcast of rank 0's buffers then changes nothing).

    Args:
        encoder: the shared encoder.
        projection_dim, hidden_dim: sizes of the MLP projector (MoCo v2's head, no batch norm).
        queue_size: number of negative keys kept; the queue starts as random unit vectors.
        momentum: EMA momentum ``m`` of the key network.
        temperature: softmax temperature (0.2 in MoCo v2).
    """

    def __init__(
        self,
        encoder: SiameseEncoder,
        projection_dim: int = 128,
        hidden_dim: int = 512,
        queue_size: int = 4096,
        momentum: float = 0.99,
        temperature: float = 0.2,
    ):
        super().__init__(encoder)
        if queue_size < 1:
            raise ValueError(f"queue_size must be a positive integer, got {queue_size}")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.momentum = check_momentum(momentum)
        self.temperature = float(temperature)
        self.projector = mlp_head(encoder.feature_dim, hidden_dim, projection_dim, batch_norm=False)
        self.key_encoder = frozen_copy(encoder)
        self.key_projector = frozen_copy(self.projector)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, projection_dim), dim=1))
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.long))
        self._pending_keys: tuple[torch.Tensor, torch.Tensor] | None = None

    def _query(self, view: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projector(self.encoder.features(view)).float(), dim=1)

    @torch.no_grad()
    def _key(self, view: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.key_projector(self.key_encoder.features(view)).float(), dim=1)

    def forward(self, view_1: torch.Tensor, view_2: torch.Tensor) -> torch.Tensor:
        q_1, q_2 = self._query(view_1), self._query(view_2)
        k_1, k_2 = self._key(view_1), self._key(view_2)
        negatives = self.queue.clone().detach()
        with full_precision(q_1):
            loss = 0.5 * (
                info_nce_loss(q_1, k_2, negatives, self.temperature) + info_nce_loss(q_2, k_1, negatives, self.temperature)
            )
        self._pending_keys = (k_1, k_2)
        return loss

    @torch.no_grad()
    def step_end(self) -> None:
        """Momentum update of the key network, then enqueue the keys of the last ``forward``: under torchrun every
        rank's, first views then second views, each in rank order, so that every rank's queue holds the keys of
        the whole global batch, in the order one process holding that batch would enqueue them."""
        ema_update_(self.key_encoder, self.encoder, self.momentum)
        ema_update_(self.key_projector, self.projector, self.momentum)
        if self._pending_keys is not None:
            self.enqueue(torch.cat([gather_tensors(keys) for keys in self._pending_keys]))
            self._pending_keys = None

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Writes ``keys`` over the oldest queue entries, wrapping around; only the newest fit if too many."""
        size = self.queue.shape[0]
        keys = keys[-size:].to(self.queue.dtype)
        positions = (self.queue_pointer + torch.arange(len(keys), device=self.queue.device)) % size
        self.queue[positions] = keys
        self.queue_pointer.copy_((self.queue_pointer + len(keys)) % size)
