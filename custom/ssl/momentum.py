"""Momentum (EMA) copies of networks, as used by MoCo's key encoder and BYOL's target network."""

from __future__ import annotations

import copy

import torch
from torch import nn


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy whose parameters take no gradient: it changes only through :func:`ema_update_`."""
    target = copy.deepcopy(module)
    for parameter in target.parameters():
        parameter.requires_grad_(False)
    return target


def check_momentum(momentum: float) -> float:
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
    return float(momentum)


@torch.no_grad()
def ema_update_(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """``target = momentum * target + (1 - momentum) * online``, parameter by parameter, in place.

    Only parameters move: the target's batch-norm running statistics follow its own forward passes.
    """
    for target_param, online_param in zip(target.parameters(), online.parameters(), strict=True):
        target_param.lerp_(online_param.detach(), 1.0 - momentum)
