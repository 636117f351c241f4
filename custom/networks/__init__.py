"""Siamese encoders for contralateral patch pairs, and MONAI's FlexibleUNet made exportable."""

from .exportable import ExportableFlexibleUNet, ZeroPadShortcut, with_exportable_shortcuts
from .siamese import CoTrainedSiamesePair, SiameseEncoder, flexible_unet_encoder_state, pair_distance, seeded_encoder

__all__ = [
    "CoTrainedSiamesePair", "ExportableFlexibleUNet", "SiameseEncoder", "ZeroPadShortcut", "flexible_unet_encoder_state",
    "pair_distance", "seeded_encoder", "with_exportable_shortcuts",
]
