"""The model a DistributedDataParallel wrapper holds."""

from __future__ import annotations

import torch


def unwrap(network: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper, or the module itself."""
    return getattr(network, "module", network)
