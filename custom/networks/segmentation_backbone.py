"""A segmentation network's encoder and decoder as the network a self-supervised method pretrains.

Figueiras et al. compare pretraining the encoder alone with pretraining the encoder and the decoder. For the
second, the contrastive objective is applied to the decoder's output: its last feature map, averaged over
space. The state_dict keys are those of :class:`ExportableFlexibleUNet` (``encoder.*``, ``decoder.*``), so the
pretrained weights load into the segmentation network, whose head alone then starts at random.
"""

from __future__ import annotations

import torch
from torch import nn

from custom.networks.exportable import ExportableFlexibleUNet

DECODER_CHANNELS = (256, 128, 64, 32, 16)  # FlexibleUNet's default


class SegmentationBackbone(nn.Module):
    """The encoder and decoder of ``ExportableFlexibleUNet(backbone=backbone)``, without the segmentation head.

    ``features(x)`` (what the self-supervised heads take) is the decoder's last feature map, ``(B,
    feature_dim)`` after global averaging; ``feature_dim`` is the last of ``decoder_channels``.
    """

    def __init__(self, in_channels: int = 1, backbone: str = "resnet18", spatial_dims: int = 2,
                 decoder_channels: tuple[int, ...] = DECODER_CHANNELS):
        super().__init__()
        unet = ExportableFlexibleUNet(in_channels=in_channels, out_channels=1, backbone=backbone,
                                      spatial_dims=spatial_dims, pretrained=False,
                                      decoder_channels=decoder_channels)
        self.encoder, self.decoder, self.skip_connect = unet.encoder, unet.decoder, unet.skip_connect
        self.feature_dim = decoder_channels[-1]

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's output ``(B, feature_dim, *spatial)``, at the input's resolution."""
        return self.decoder(self.encoder(x), self.skip_connect)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=tuple(range(2, x.ndim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def seeded_segmentation_backbone(seed: int, **kwargs) -> SegmentationBackbone:
    """A :class:`SegmentationBackbone` built from its own seed without disturbing the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SegmentationBackbone(**kwargs)
