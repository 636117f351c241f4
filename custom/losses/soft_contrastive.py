"""Contrastive loss on pair distances with soft "this pair differs" labels."""

from __future__ import annotations

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss


class SoftContrastiveLoss(_Loss):
    """Contrastive loss with a soft label per pair.

    .. math::

        L(d, y) = (1 - y)\\, d^2 + y\\, \\max(0, m - d)^2

    ``d`` is the embedding distance of a pair, ``y`` in ``[0, 1]`` the probability that the two patches
    differ (0: same tissue, pull together; 1: different, push apart until the margin ``m``). A soft ``y``
    blends the two terms, so an uncertain pair pulls its distance towards ``y``'s balance point ``y m``.

    Args:
        margin: distance beyond which dissimilar pairs cost nothing (with L2-normalised embeddings keep
            it below 2, the largest possible distance).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-pair losses, shape ``(B,)``).
    """

    def __init__(self, margin: float = 1.0, reduction: LossReduction | str = LossReduction.MEAN) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if not margin > 0:
            raise ValueError(f"margin must be positive, got {margin}")
        self.margin = float(margin)

    def forward(self, distance: torch.Tensor, soft_label: torch.Tensor) -> torch.Tensor:
        """
        Args:
            distance: ``(B,)`` non-negative, finite pair distances.
            soft_label: ``(B,)`` labels in ``[0, 1]``; a tensor or anything ``torch.as_tensor`` accepts
                (it is moved to ``distance``'s device and dtype).

        Raises:
            ValueError: on shapes other than two equal ``(B,)``, on negative or non-finite distances, or on
                labels outside ``[0, 1]``.
        """
        soft_label = torch.as_tensor(soft_label, dtype=distance.dtype, device=distance.device)
        if distance.ndim != 1 or soft_label.shape != distance.shape:
            raise ValueError(
                f"distance and soft_label must both have shape (B,), got {tuple(distance.shape)} and "
                f"{tuple(soft_label.shape)}"
            )
        if not bool(torch.isfinite(distance).all()) or bool((distance < 0).any()):
            raise ValueError("distance must be finite and non-negative (is the distance NaN after divergence?)")
        if not bool(((soft_label >= 0) & (soft_label <= 1)).all()):
            raise ValueError(
                f"soft_label must lie in [0, 1], got values in [{soft_label.min().item()}, {soft_label.max().item()}]"
            )
        loss = (1 - soft_label) * distance.pow(2) + soft_label * torch.clamp(self.margin - distance, min=0).pow(2)
        if self.reduction == LossReduction.MEAN.value:
            return loss.mean()
        if self.reduction == LossReduction.SUM.value:
            return loss.sum()
        return loss


class CrossSoftContrastiveLoss(_Loss):
    """Cross loss of two co-trained Siamese networks: each learns from the other's soft labels.

    .. math::

        L = L_{soft}(d_a, y_b) + L_{soft}(d_b, y_a)

    ``d_a``, ``d_b`` are the distances of networks A and B; ``y_a``, ``y_b`` the soft labels computed from
    A's and from B's distances (for example with :class:`GMMSoftLabeller`). Swapping the labels keeps a
    network from confirming its own mistakes. With ``reduction="none"`` the result is the per-pair sum
    ``(B,)``.

    With ``mismatch_weight > 0``, pairs of non-corresponding patches (another place of another breast, e.g.
    the next pair's side B) are pushed apart with label 1 by construction:
    ``+ w (L_soft(d'_a, 1) + L_soft(d'_b, 1))``. Most contralateral pairs are normal and are pulled together;
    without anything that pushes different tissue apart, an embedding that ignores tissue is the cheapest
    solution (collapse), and these pairs rule it out.

    Args:
        margin: margin of :class:`SoftContrastiveLoss`.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        mismatch_weight: weight of the non-corresponding pairs' term (0: the plain cross loss).
    """

    def __init__(self, margin: float = 1.0, reduction: LossReduction | str = LossReduction.MEAN,
                 mismatch_weight: float = 0.0) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if mismatch_weight < 0:
            raise ValueError(f"mismatch_weight must be non-negative, got {mismatch_weight}")
        self.loss = SoftContrastiveLoss(margin=margin, reduction=reduction)
        self.mismatch_weight = float(mismatch_weight)

    def forward(
        self,
        distance_a: torch.Tensor,
        distance_b: torch.Tensor,
        soft_label_a: torch.Tensor,
        soft_label_b: torch.Tensor,
        mismatch_distance_a: torch.Tensor | None = None,
        mismatch_distance_b: torch.Tensor | None = None,
        weight_a: torch.Tensor | None = None,
        weight_b: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            distance_a: ``(B,)`` distances of network A.
            distance_b: ``(B,)`` distances of network B.
            soft_label_a: ``(B,)`` soft labels derived from network A (they supervise B).
            soft_label_b: ``(B,)`` soft labels derived from network B (they supervise A).
            mismatch_distance_a, mismatch_distance_b: ``(B,)`` distances of non-corresponding pairs; needed
                when ``mismatch_weight > 0``.
            weight_a, weight_b: ``(B,)`` non-negative weights of each pair in network A's and B's term (e.g. the
                pairs co-teaching keeps for each); the term is then the weighted mean (with reduction "mean"),
                the weighted sum ("sum") or the weighted per-pair losses ("none").
        """
        if weight_a is None and weight_b is None:
            loss = self.loss(distance_a, soft_label_b) + self.loss(distance_b, soft_label_a)
        else:
            loss = self._weighted(distance_a, soft_label_b, weight_a) + self._weighted(distance_b, soft_label_a, weight_b)
        if self.mismatch_weight == 0:
            return loss
        if mismatch_distance_a is None or mismatch_distance_b is None:
            raise ValueError("mismatch_weight > 0 needs the distances of non-corresponding pairs")
        different = torch.ones_like(mismatch_distance_a)
        # non-corresponding pairs are different by construction: never down-weighted
        return loss + self.mismatch_weight * (
            self.loss(mismatch_distance_a, different) + self.loss(mismatch_distance_b, different))

    def _weighted(self, distance: torch.Tensor, soft_label: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
        per_pair = SoftContrastiveLoss(self.loss.margin, reduction="none")(distance, soft_label)
        if weight is None:
            weight = torch.ones_like(per_pair)
        weight = torch.as_tensor(weight, dtype=per_pair.dtype, device=per_pair.device)
        if weight.shape != per_pair.shape or bool((weight < 0).any()):
            raise ValueError(f"pair weights must be {tuple(per_pair.shape)} non-negative values, got {tuple(weight.shape)}")
        if self.reduction == LossReduction.MEAN.value:
            return (weight * per_pair).sum() / weight.sum().clamp_min(1e-12)
        if self.reduction == LossReduction.SUM.value:
            return (weight * per_pair).sum()
        return weight * per_pair
