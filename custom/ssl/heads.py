"""Projection and prediction heads: small MLPs on top of the encoder's pooled features."""

from __future__ import annotations

from torch import nn


def mlp_head(in_dim: int, hidden_dim: int, out_dim: int, batch_norm: bool = True, batch_norm_out: bool = False) -> nn.Sequential:
    """``Linear -> [BN] -> ReLU -> Linear [-> BN without affine]``.

    ``batch_norm_out`` ends with a non-affine batch norm on the output, as SimSiam's projector does: it keeps
    every output dimension used, which guards against collapse.
    """
    for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    layers: list[nn.Module] = [nn.Linear(in_dim, hidden_dim, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(hidden_dim))
    layers += [nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)]
    if batch_norm_out:
        layers.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*layers)
