"""Losses: the soft contrastive loss of contralateral pairs (and its cross form), and the anti-collapse
regularisers. The GMM soft labeller that produces the pairs' labels is an estimator, in ``custom.labelling``."""

from .regularisers import VarianceCovarianceLoss
from .soft_contrastive import CrossSoftContrastiveLoss, SoftContrastiveLoss

__all__ = ["CrossSoftContrastiveLoss", "SoftContrastiveLoss", "VarianceCovarianceLoss"]
