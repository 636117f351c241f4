"""The soft labels of every training pair, as computed from each network's embedding distances."""

from __future__ import annotations

import numpy as np
import torch

from custom.labelling import weak_label_targets


class SoftLabelBank:
    """Holds, per training pair, the soft label derived from network A and the one derived from network B.

    Before the first refresh (the weak-label warm-up) both are the weak targets: 0 for normal-normal pairs,
    ``unknown_prior`` for pairs whose label is unknown; or, when given, the ``fixed`` labels chosen before
    training (:mod:`.fixed_labels`), which then stay unless a refresh replaces them. Which network learns from which labels is the
    loss's business (:class:`custom.losses.CrossSoftContrastiveLoss`).

    ``momentum`` keeps that share of each pair's previous soft label at every refresh after the first (0: the
    new labels replace the old; 1: the first refresh's labels stay for the whole run). Networks trained on
    labels of their own making drift towards whatever they were told; a slow label average is held by the
    first, least self-confirmed, labels.
    """

    def __init__(self, weak_labels: np.ndarray, unknown_prior: float = 0.5, momentum: float = 0.0,
                 fixed: np.ndarray | None = None):
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
        self.momentum = float(momentum)
        self.weak_labels = np.asarray(weak_labels, dtype=np.int64)
        warmup = weak_label_targets(self.weak_labels, unknown_prior).astype(np.float32)
        if fixed is not None:
            fixed = np.asarray(fixed, dtype=np.float32)
            if fixed.shape != warmup.shape or not ((fixed >= 0) & (fixed <= 1)).all():
                raise ValueError(f"fixed labels must be {warmup.shape[0]} values in [0, 1], got shape {fixed.shape}")
            warmup = fixed
        self.from_a = warmup.copy()
        self.from_b = warmup.copy()
        self.refreshes = 0

    def __len__(self) -> int:
        return len(self.weak_labels)

    def labels(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The soft labels derived from network A and from network B, for the pairs at ``indices``."""
        idx = indices.cpu().numpy()
        return torch.from_numpy(self.from_a[idx]), torch.from_numpy(self.from_b[idx])

    def update(self, labels_from_a: np.ndarray, labels_from_b: np.ndarray) -> None:
        if len(labels_from_a) != len(self) or len(labels_from_b) != len(self):
            raise ValueError(f"expected {len(self)} soft labels per network, got {len(labels_from_a)} and {len(labels_from_b)}")
        keep = self.momentum if self.refreshes else 0.0
        self.from_a = (keep * self.from_a + (1 - keep) * np.asarray(labels_from_a)).astype(np.float32)
        self.from_b = (keep * self.from_b + (1 - keep) * np.asarray(labels_from_b)).astype(np.float32)
        self.refreshes += 1

    def state_dict(self) -> dict:
        return {"from_a": torch.from_numpy(self.from_a), "from_b": torch.from_numpy(self.from_b),
                "refreshes": self.refreshes}

    def load_state_dict(self, state: dict) -> None:
        self.from_a = state["from_a"].numpy().astype(np.float32)
        self.from_b = state["from_b"].numpy().astype(np.float32)
        self.refreshes = int(state["refreshes"])
