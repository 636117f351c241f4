"""L2-SP (Li, Grandvalet & Davoine, ICML 2018) as a decay towards the starting weights, decoupled from the gradient.

Why: a randomly initialised encoder already probes well on this benchmark, and pair training that erases its
features ends below it (docs/pretraining.md). Pulling the weights back towards where they started keeps those
features, so the pair loss only has to add a lesion direction. The pull is applied after the optimiser step,
as AdamW decouples weight decay (Loshchilov & Hutter, ICLR 2019): with Adam, a penalty added to the loss would be
rescaled per weight by the optimiser and pull unevenly.
"""

from __future__ import annotations

import torch
from torch import nn


class StartingPointDecay:
    """After each optimiser step, moves every weight of ``network`` a share ``rate`` of the way back to the value
    it had when this object was made: ``w <- w - rate * (w - w0)``.

    At equilibrium with a gradient step that pushes a weight away by ``s`` per step, the weight sits about
    ``s / rate`` from its start, so ``rate`` bounds how far training may move the random features.
    Batch-norm running statistics are buffers, not weights, and are left alone.
    """

    def __init__(self, network: nn.Module, rate: float) -> None:
        if not 0.0 < rate < 1.0:
            raise ValueError(f"rate must lie in (0, 1), got {rate}")
        self.rate = float(rate)
        self.start = {name: p.detach().clone() for name, p in network.named_parameters()}

    @torch.no_grad()
    def __call__(self, network: nn.Module) -> None:
        for name, parameter in network.named_parameters():
            start = self.start[name]
            if start.device != parameter.device:
                start = self.start[name] = start.to(parameter.device)
            parameter.sub_(self.rate * (parameter - start))

    def distance(self, network: nn.Module) -> float:
        """Root-mean-square distance of the weights from their start (for the log)."""
        with torch.no_grad():
            total = sum(float((p - self.start[n].to(p.device)).pow(2).sum()) for n, p in network.named_parameters())
            count = sum(p.numel() for p in network.parameters())
        return (total / max(count, 1)) ** 0.5
