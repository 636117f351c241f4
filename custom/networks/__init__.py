"""Siamese encoders for contralateral patch pairs."""

from .siamese import CoTrainedSiamesePair, SiameseEncoder, pair_distance

__all__ = ["CoTrainedSiamesePair", "SiameseEncoder", "pair_distance"]
