"""ROC AUC with stratified-bootstrap confidence intervals, binary and macro one-vs-rest."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata

# bootstrap replicates are ranked in blocks of about this many scores, to bound memory
_BLOCK_SCORES = 2_000_000


@dataclass(frozen=True)
class MetricResult:
    """A metric with its percentile bootstrap confidence interval over ``n`` samples."""

    value: float
    ci_low: float
    ci_high: float
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


def _auc_rows(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of every row of ``scores`` (R, n); ``positive`` (n,) marks the positive columns."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    ranks = rankdata(scores, axis=1)  # ties get the average rank, i.e. count one half
    return (ranks[:, positive].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _class_members(y_true: np.ndarray, classes: np.ndarray, what: str) -> list[np.ndarray]:
    members = [np.flatnonzero(y_true == c) for c in classes]
    present = [c for c, m in zip(classes, members) if m.size]
    if len(present) < 2:
        raise ValueError(f"{what} needs at least two classes in y_true, got only {present} (n={y_true.size})")
    return members


def _stratified_bootstrap(members: list[np.ndarray], statistic, n_bootstrap: int, confidence: float, seed: int):
    """Point estimate and percentile CI of ``statistic``, resampling within each class with replacement.

    ``statistic(index)`` takes an ``(R, n)`` block of sample indices laid out class by class (the layout of
    ``members``), so every replicate keeps each class's count and no replicate lacks a class.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    value = float(statistic(np.concatenate(members)[None, :])[0])
    rng = np.random.default_rng(seed)
    n = sum(m.size for m in members)
    block = max(1, _BLOCK_SCORES // n)
    replicates = []
    for start in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - start)
        index = np.concatenate([rng.choice(m, size=(size, m.size)) for m in members if m.size], axis=1)
        replicates.append(statistic(index))
    alpha = (1 - confidence) / 2
    low, high = np.quantile(np.concatenate(replicates), [alpha, 1 - alpha])
    return MetricResult(value, float(low), float(high), n)


def roc_auc(y_true, y_score, *, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0) -> MetricResult:
    """Binary ROC AUC (positive class: the larger label) with a stratified bootstrap CI.

    Raises:
        ValueError: when ``y_true`` holds fewer or more than two classes, or shapes differ.
    """
    y_true = np.asarray(y_true).ravel()
    y_score = np.asarray(y_score, dtype=np.float64).ravel()
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true and y_score differ in length: {y_true.size} vs {y_score.size}")
    classes = np.unique(y_true)
    if classes.size > 2:
        raise ValueError(
            f"roc_auc is binary; y_true holds {classes.size} classes {classes.tolist()}: use macro_roc_auc"
        )
    members = _class_members(y_true, classes, "ROC AUC")
    positive = np.zeros(y_true.size, dtype=bool)
    positive[members[0].size :] = True  # layout: negatives then positives

    return _stratified_bootstrap(
        members, lambda index: _auc_rows(y_score[index], positive), n_bootstrap, confidence, seed
    )


def macro_roc_auc(
    y_true, y_score, classes=None, *, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0
) -> MetricResult:
    """Macro average of the one-vs-rest ROC AUCs over the classes present in ``y_true``, with a CI.

    Args:
        y_true: ``(n,)`` class labels.
        y_score: ``(n, K)`` scores, column ``k`` for ``classes[k]``.
        classes: the labels of the columns; default: the sorted unique labels of ``y_true``. Columns of
            classes absent from ``y_true`` are ignored.

    Raises:
        ValueError: when fewer than two classes are present or shapes do not match.
    """
    y_true = np.asarray(y_true).ravel()
    y_score = np.asarray(y_score, dtype=np.float64)
    classes = np.unique(y_true) if classes is None else np.asarray(classes)
    if y_score.ndim != 2 or y_score.shape != (y_true.size, classes.size):
        raise ValueError(f"y_score must have shape (n, K) = ({y_true.size}, {classes.size}), got {y_score.shape}")
    if not np.isin(y_true, classes).all():
        raise ValueError(f"y_true holds labels outside classes {classes.tolist()}: {np.setdiff1d(y_true, classes)}")
    members = _class_members(y_true, classes, "macro ROC AUC")
    present = [k for k, m in enumerate(members) if m.size]
    offsets = np.cumsum([0] + [members[k].size for k in present])
    blocks = []
    for i, k in enumerate(present):
        positive = np.zeros(offsets[-1], dtype=bool)
        positive[offsets[i] : offsets[i + 1]] = True
        blocks.append((k, positive))

    def statistic(index: np.ndarray) -> np.ndarray:
        return np.mean([_auc_rows(y_score[index, k], positive) for k, positive in blocks], axis=0)

    return _stratified_bootstrap(members, statistic, n_bootstrap, confidence, seed)
