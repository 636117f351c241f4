"""Soft contrastive losses and the GMM soft labeller that produces their labels."""

from .soft_contrastive import CrossSoftContrastiveLoss, SoftContrastiveLoss
from .soft_labels import GMMSoftLabeller, weak_label_targets

__all__ = ["CrossSoftContrastiveLoss", "GMMSoftLabeller", "SoftContrastiveLoss", "weak_label_targets"]
