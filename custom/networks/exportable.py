"""MONAI's ``FlexibleUNet`` with a ResNet backbone, made exportable to TorchScript and ONNX for any batch size.

MONAI builds the ResNet's parameter-free "A" shortcut (stride-s sampling, zero channels appended) as a
``functools.partial`` of a method that pads with ``torch.cat([out.data, zeros])``. TorchScript cannot compile the
partial, tracing fixes the zeros to the traced batch size, and ONNX's exporter cannot lift ``.data``. The module
below computes the same values and gradients (the shortcut is detached, as ``.data`` detaches it), holds no
parameters, and leaves the ``state_dict`` unchanged, so weights move freely between the two networks.
"""

from __future__ import annotations

from functools import partial

import torch
from monai.networks.layers.factories import Pool
from monai.networks.nets import FlexibleUNet
from monai.networks.nets.resnet import ResNetBlock, ResNetBottleneck
from torch import nn


class ZeroPadShortcut(nn.Module):
    """The ResNet "A" shortcut: every ``stride``-th voxel, the missing channels up to ``planes`` filled with zeros."""

    def __init__(self, planes: int, stride: int, spatial_dims: int = 3) -> None:
        super().__init__()
        self.planes = planes
        self.pool = Pool[Pool.AVG, spatial_dims](kernel_size=1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool(x)
        pad_shape = list(out.shape)
        pad_shape[1] = self.planes - pad_shape[1]
        return torch.cat([out.detach(), out.new_zeros(pad_shape)], dim=1)


def with_exportable_shortcuts(network: nn.Module) -> nn.Module:
    """``network`` with each ResNet block's partial "A" shortcut replaced, in place, by a :class:`ZeroPadShortcut`."""
    for block in network.modules():
        if isinstance(block, (ResNetBlock, ResNetBottleneck)) and isinstance(block.downsample, partial):
            block.downsample = ZeroPadShortcut(**block.downsample.keywords)
    return network


class ExportableFlexibleUNet(FlexibleUNet):
    """``monai.networks.nets.FlexibleUNet`` (same arguments, same weights) that TorchScript scripts and that
    traces and exports to ONNX with a dynamic batch."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        with_exportable_shortcuts(self)
