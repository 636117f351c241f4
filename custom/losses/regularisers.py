"""An anti-collapse term for pair training: VICReg's variance and covariance terms (Bardes, Ponce & LeCun, ICLR
2022), without its invariance term.

Most contralateral pairs are normal and are pulled together; the cheapest way to pull them together is to
ignore tissue, and an encoder trained so probes below a random one (docs/pretraining.md: effective rank
falling from 55 to 15-30). With these terms every feature keeps a spread across the batch, and features stay
decorrelated. (The other anti-collapse option, a pull towards the starting weights, acts on the weights, not
on a loss: ``custom.training.StartingPointDecay``.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss


class VarianceCovarianceLoss(_Loss):
    """``variance_weight * mean_j relu(target_std - std_j) + covariance_weight * sum_{i != j} cov_ij^2 / D`` of a
    ``(N, D)`` batch of features.

    Args:
        target_std: the spread below which a feature is penalised (VICReg's gamma, 1).
        variance_weight, covariance_weight: the two terms' weights (VICReg's 25 and 1, here relative: 1 and 0.04).
        eps: added to the variance under the square root, for a finite gradient at zero spread.
    """

    def __init__(self, target_std: float = 1.0, variance_weight: float = 1.0, covariance_weight: float = 0.04,
                 eps: float = 1e-4) -> None:
        super().__init__(reduction=LossReduction.MEAN.value)
        self.target_std = float(target_std)
        self.variance_weight = float(variance_weight)
        self.covariance_weight = float(covariance_weight)
        self.eps = float(eps)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 2 or features.shape[0] < 2:
            raise ValueError(f"features must be (N, D) with N >= 2, got shape {tuple(features.shape)}")
        n, d = features.shape
        features = features if features.dtype == torch.float64 else features.float()  # fp32 at least, under autocast too
        centred = features - features.mean(dim=0)
        std = torch.sqrt(centred.var(dim=0) + self.eps)
        variance = F.relu(self.target_std - std).mean()
        covariance = (centred.T @ centred) / (n - 1)
        off_diagonal = covariance - torch.diag(torch.diagonal(covariance))
        return self.variance_weight * variance + self.covariance_weight * off_diagonal.pow(2).sum() / d
