"""Siamese encoders for contralateral patch pairs."""

from .siamese import CoTrainedSiamesePair, SiameseEncoder, pair_distance, seeded_encoder

__all__ = ["CoTrainedSiamesePair", "SiameseEncoder", "pair_distance", "seeded_encoder"]
