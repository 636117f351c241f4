"""Siamese encoders for contralateral patch pairs; MONAI's FlexibleUNet made exportable, and its encoder and
decoder as a network to pretrain."""

from .exportable import ExportableFlexibleUNet, ZeroPadShortcut, with_exportable_shortcuts
from .segmentation_backbone import SegmentationBackbone, seeded_segmentation_backbone
from .siamese import CoTrainedSiamesePair, SiameseEncoder, flexible_unet_encoder_state, pair_distance, seeded_encoder

__all__ = [
    "CoTrainedSiamesePair", "ExportableFlexibleUNet", "SegmentationBackbone", "SiameseEncoder", "ZeroPadShortcut",
    "flexible_unet_encoder_state", "pair_distance", "seeded_encoder", "seeded_segmentation_backbone",
    "with_exportable_shortcuts",
]
