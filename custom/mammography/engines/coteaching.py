"""Co-teaching (Han et al., NeurIPS 2018) on top of fixed positives: each network picks, for its peer, the
positive pairs it finds easiest, and the kept share shrinks over the epochs.

Why only among positives: with fixed labels (:mod:`.fixed_labels`) the negatives come from exams taken as
normal and are mostly right, while the positives, a few most asymmetric pairs per exam, are wrong about as
often as not. Networks fit clean labels before noisy ones, so the pairs a network can already explain are the
likelier lesions; the peer trains on those, and the two networks' different mistakes keep either from
confirming its own (as the cross loss does for the GMM's labels).
"""

from __future__ import annotations

import torch

from custom.losses import SoftContrastiveLoss


class CoTeachingSelection:
    """Pair weights ``(weight_a, weight_b)`` for the two networks' loss terms.

    ``keep_share(epoch)`` falls linearly from 1 at epoch 1 to ``final_share`` at ``ramp_epochs`` and stays there.
    Among the pairs labelled positive (label > 0.5), network B trains on the ``keep_share`` with the smallest
    loss under network A, and A on those with the smallest loss under B; every other pair keeps weight 1.
    """

    def __init__(self, final_share: float = 0.5, ramp_epochs: int = 10, margin: float = 1.0):
        if not 0.0 < final_share <= 1.0:
            raise ValueError(f"final_share must lie in (0, 1], got {final_share}")
        if ramp_epochs < 1:
            raise ValueError(f"ramp_epochs must be at least 1, got {ramp_epochs}")
        self.final_share = float(final_share)
        self.ramp_epochs = int(ramp_epochs)
        self.loss = SoftContrastiveLoss(margin, reduction="none")

    def keep_share(self, epoch: int) -> float:
        progress = min(max(epoch - 1, 0) / max(self.ramp_epochs - 1, 1), 1.0)
        return 1.0 - (1.0 - self.final_share) * progress

    @torch.no_grad()
    def __call__(self, epoch: int, distance_a: torch.Tensor, distance_b: torch.Tensor, label_for_a: torch.Tensor,
                 label_for_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``label_for_a``: the labels network A trains on (B's, under the cross loss); likewise for B."""
        share = self.keep_share(epoch)
        weight_b = self._small_loss(self.loss(distance_a, label_for_a), label_for_b, share)  # A chooses for B
        weight_a = self._small_loss(self.loss(distance_b, label_for_b), label_for_a, share)  # B chooses for A
        return weight_a, weight_b

    @staticmethod
    def _small_loss(losses: torch.Tensor, labels: torch.Tensor, share: float) -> torch.Tensor:
        weight = torch.ones_like(losses)
        positive = torch.nonzero(labels > 0.5).flatten()
        if positive.numel() == 0 or share >= 1.0:
            return weight
        keep = max(1, int(round(share * positive.numel())))
        dropped = positive[torch.argsort(losses[positive])[keep:]]
        weight[dropped] = 0.0
        return weight


SELECTIONS = ("none", "coteaching")


def pair_selection(kind: str = "none", final_share: float = 0.5, ramp_epochs: int = 10,
                   margin: float = 1.0) -> CoTeachingSelection | None:
    """The ``selection`` option of ``train.json``: ``"none"`` (every pair counts) or ``"coteaching"``."""
    if kind not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {kind!r}")
    return CoTeachingSelection(final_share, ramp_epochs, margin) if kind == "coteaching" else None
