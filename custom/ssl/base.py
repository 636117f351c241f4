"""What every self-supervised method shares: the encoder, the step hook, and losses in full precision."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from custom.networks import SiameseEncoder


class SSLMethod(nn.Module):
    """A self-supervised objective around a :class:`SiameseEncoder`.

    ``forward(view_1, view_2)`` returns the scalar loss of a batch of two views of the same patches.
    ``encoder`` is the network that is exported and probed (its pooled ``features``); heads, target
    networks and queues belong to the method and are dropped after training.

    ``step_end()`` is called once after every optimiser step (by :class:`custom.ssl.SSLIteration`); methods
    with a momentum (target) network update it there, and MoCo enqueues the keys of the step. It does
    nothing for the other methods.
    """

    def __init__(self, encoder: SiameseEncoder):
        super().__init__()
        self.encoder = encoder

    def step_end(self) -> None:
        """Nothing to do after an optimiser step."""


def full_precision(tensor: torch.Tensor):
    """Autocast switched off on ``tensor``'s device: losses are sums of many small terms (bf16 would round them)."""
    if tensor.device.type not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(tensor.device.type, enabled=False)
