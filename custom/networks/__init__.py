"""Siamese encoders for contralateral patch pairs."""

from .siamese import CoTrainedSiamesePair, SiameseEncoder, flexible_unet_encoder_state, pair_distance, seeded_encoder

__all__ = [
    "CoTrainedSiamesePair", "SiameseEncoder", "flexible_unet_encoder_state", "pair_distance", "seeded_encoder",
]
