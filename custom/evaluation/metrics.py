"""ROC AUC with bootstrap confidence intervals, binary and macro one-vs-rest.

Two bootstraps:

- **Sample-level** (``groups=None``): samples are resampled with replacement *within each class*
  (stratified), so every replicate keeps each class's count and no replicate lacks a class.
- **Cluster-level** (``groups`` given, e.g. patient ids): whole clusters are resampled with replacement,
  every sample of a drawn cluster entering the replicate as often as its cluster was drawn. Patches of one
  patient are correlated, so this is the bootstrap to use when several samples come from one patient: the
  sample-level one treats them as independent and gives intervals that are too narrow. Stratifying by class
  is not possible here (a patient may hold both classes), so a replicate may lack a class; such
  replicates have no AUC and are discarded and redrawn until ``n_bootstrap`` valid ones are collected
  (for the macro AUC a replicate is valid when it holds every class present in ``y_true``). The interval
  is thus conditional on every class being present. If valid replicates are too rare (fewer than
  ``1 / _MAX_DRAWS_PER_REPLICATE`` of the draws), a ``ValueError`` says so.

The point estimate is always the AUC on all samples; only the interval depends on ``groups``.

For cross-validated probes, :func:`within_fold_auc` counts only the pairs scored by one fold's model, and
:func:`normal_interval` turns the replicates of a refit bootstrap (:mod:`.probe_bootstrap`) into an interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm, rankdata

# bootstrap replicates are ranked in blocks of about this many scores, to bound memory
_BLOCK_SCORES = 2_000_000
# cluster bootstrap: give up when more than this many replicates per requested one had to be drawn
_MAX_DRAWS_PER_REPLICATE = 20


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


class _WeightedAUC:
    """Mann-Whitney AUC of fixed ``scores`` (n,) under per-sample weights, for many weight rows at once.

    With integer weights (multiplicities) the result equals the AUC of the sample in which each item is
    repeated as often as its weight (ties count one half), which is what a cluster bootstrap replicate is.
    Sorting happens once; each call is then a cumulative sum per row.
    """

    def __init__(self, scores: np.ndarray, positive: np.ndarray) -> None:
        self.order = np.argsort(scores, kind="stable")
        ordered = scores[self.order]
        self.positive = positive[self.order]
        # tie block of each sorted position: [start, end) in sorted order
        new_block = np.r_[True, ordered[1:] != ordered[:-1]]
        starts = np.flatnonzero(new_block)
        ends = np.r_[starts[1:], ordered.size]
        block = np.cumsum(new_block) - 1
        self.start, self.end = starts[block], ends[block]

    def __call__(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """AUC per row of ``weights`` (R, n) and whether the row holds both classes (else the AUC is NaN)."""
        w = weights[:, self.order].astype(np.float64)
        negative = np.where(self.positive, 0.0, w)
        below = np.zeros((w.shape[0], w.shape[1] + 1))
        np.cumsum(negative, axis=1, out=below[:, 1:])  # below[:, i]: negative weight of sorted positions < i
        beaten = below[:, self.start] + 0.5 * (below[:, self.end] - below[:, self.start])
        w_pos = w[:, self.positive].sum(axis=1)
        w_neg = below[:, -1]
        valid = (w_pos > 0) & (w_neg > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (w[:, self.positive] * beaten[:, self.positive]).sum(axis=1) / (w_pos * w_neg)
        return np.where(valid, auc, np.nan), valid


def _class_members(y_true: np.ndarray, classes: np.ndarray, what: str) -> list[np.ndarray]:
    members = [np.flatnonzero(y_true == c) for c in classes]
    present = [c for c, m in zip(classes, members, strict=True) if m.size]
    if len(present) < 2:
        raise ValueError(f"{what} needs at least two classes in y_true, got only {present} (n={y_true.size})")
    return members


def _check_bootstrap(n_bootstrap: int, confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")


def _interval(value: float, replicates: np.ndarray, confidence: float, n: int) -> MetricResult:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(replicates, [alpha, 1 - alpha])
    return MetricResult(float(value), float(low), float(high), n)


def _stratified_bootstrap(members: list[np.ndarray], statistic, n_bootstrap: int, confidence: float, seed: int):
    """Point estimate and percentile CI of ``statistic``, resampling within each class with replacement.

    ``statistic(index)`` takes an ``(R, n)`` block of sample indices laid out class by class (the layout of
    ``members``), so every replicate keeps each class's count and no replicate lacks a class.
    """
    _check_bootstrap(n_bootstrap, confidence)
    value = float(statistic(np.concatenate(members)[None, :])[0])
    rng = np.random.default_rng(seed)
    n = sum(m.size for m in members)
    block = max(1, _BLOCK_SCORES // n)
    replicates = []
    for start in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - start)
        index = np.concatenate([rng.choice(m, size=(size, m.size)) for m in members if m.size], axis=1)
        replicates.append(statistic(index))
    return _interval(value, np.concatenate(replicates), confidence, n)


def _group_codes(groups, n: int) -> tuple[np.ndarray, int]:
    groups = np.asarray(groups).ravel()
    if groups.size != n:
        raise ValueError(f"groups must hold one entry per sample: {groups.size} groups for {n} samples")
    _, codes = np.unique(groups, return_inverse=True)
    return codes.ravel(), int(codes.max()) + 1


def _cluster_bootstrap(
    codes: np.ndarray, n_groups: int, statistic, n_bootstrap: int, confidence: float, seed: int
) -> MetricResult:
    """Point estimate and percentile CI of ``statistic``, resampling whole clusters with replacement.

    ``statistic(weights)`` takes an ``(R, n)`` block of per-sample multiplicities and returns the ``(R,)``
    values and a ``(R,)`` validity mask; invalid replicates (a class missing) are redrawn.
    """
    _check_bootstrap(n_bootstrap, confidence)
    n = codes.size
    value = float(statistic(np.ones((1, n)))[0][0])
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_SCORES // n)
    uniform = np.full(n_groups, 1.0 / n_groups)
    max_draws = _MAX_DRAWS_PER_REPLICATE * n_bootstrap
    replicates, collected, drawn = [], 0, 0
    while collected < n_bootstrap:
        if drawn >= max_draws:
            raise ValueError(
                f"cluster bootstrap: only {collected} of {drawn} replicates drawn from {n_groups} clusters hold "
                "every class; too few clusters (patients) carry the rarer classes for a cluster-level interval"
            )
        size = min(block, n_bootstrap - collected)
        counts = rng.multinomial(n_groups, uniform, size=size)  # times each cluster is drawn, per replicate
        values, valid = statistic(counts[:, codes])
        drawn += size
        replicates.append(values[valid])
        collected += int(valid.sum())
    return _interval(value, np.concatenate(replicates)[:n_bootstrap], confidence, n)


def roc_auc(
    y_true,
    y_score,
    *,
    groups=None,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> MetricResult:
    """Binary ROC AUC (positive class: the larger label) with a bootstrap CI.

    Args:
        groups: optional ``(n,)`` cluster labels (patient ids). Given: the CI comes from a cluster bootstrap
            resampling whole clusters (replicates lacking a class are redrawn, see the module docstring);
            otherwise from a bootstrap stratified by class over samples.

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
    if groups is not None:
        codes, n_groups = _group_codes(groups, y_true.size)
        statistic = _WeightedAUC(y_score, y_true == classes[1])
        return _cluster_bootstrap(codes, n_groups, statistic, n_bootstrap, confidence, seed)
    positive = np.zeros(y_true.size, dtype=bool)
    positive[members[0].size :] = True  # layout: negatives then positives

    return _stratified_bootstrap(
        members, lambda index: _auc_rows(y_score[index], positive), n_bootstrap, confidence, seed
    )


def macro_roc_auc(
    y_true,
    y_score,
    classes=None,
    *,
    groups=None,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> MetricResult:
    """Macro average of the one-vs-rest ROC AUCs over the classes present in ``y_true``, with a CI.

    Args:
        y_true: ``(n,)`` class labels.
        y_score: ``(n, K)`` scores, column ``k`` for ``classes[k]``.
        classes: the labels of the columns; default: the sorted unique labels of ``y_true``. Columns of
            classes absent from ``y_true`` are ignored.
        groups: optional ``(n,)`` cluster labels (patient ids) for a cluster bootstrap; replicates lacking
            any class present in ``y_true`` are redrawn (see the module docstring).

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

    if groups is not None:
        codes, n_groups = _group_codes(groups, y_true.size)
        per_class = [_WeightedAUC(y_score[:, k], y_true == classes[k]) for k in present]

        def weighted_statistic(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            aucs, valid = zip(*(auc(weights) for auc in per_class), strict=True)
            return np.mean(aucs, axis=0), np.logical_and.reduce(valid)

        return _cluster_bootstrap(codes, n_groups, weighted_statistic, n_bootstrap, confidence, seed)

    offsets = np.cumsum([0] + [members[k].size for k in present])
    blocks = []
    for i, k in enumerate(present):
        positive = np.zeros(offsets[-1], dtype=bool)
        positive[offsets[i] : offsets[i + 1]] = True
        blocks.append((k, positive))

    def statistic(index: np.ndarray) -> np.ndarray:
        return np.mean([_auc_rows(y_score[index, k], positive) for k, positive in blocks], axis=0)

    return _stratified_bootstrap(members, statistic, n_bootstrap, confidence, seed)


def within_fold_auc(positive, scores, folds, weights=None) -> float:
    """Mann-Whitney AUC over the (positive, negative) pairs that share a fold, each sample counted with its
    weight (ties count one half); NaN when no fold holds both classes.

    Why within folds: scores of different cross-validation folds come from different models, whose offsets
    depend on the class balance of their training parts, which is anti-correlated with their test parts';
    pairs across folds thus bias the pooled AUC of an uninformative probe below 0.5. Within a fold the model
    never saw the test patients, so for features independent of the labels the expected AUC is exactly 0.5.
    """
    positive = np.asarray(positive, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    folds = np.asarray(folds).ravel()
    weights = np.ones(scores.size) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if not positive.size == scores.size == folds.size == weights.size:
        raise ValueError(
            f"positive, scores, folds and weights differ in length: {positive.size}, {scores.size}, "
            f"{folds.size}, {weights.size}"
        )
    order = np.lexsort((scores, folds))
    scores, folds, positive, weights = scores[order], folds[order], positive[order], weights[order]
    new_fold = np.r_[True, folds[1:] != folds[:-1]]
    new_block = new_fold | np.r_[True, scores[1:] != scores[:-1]]  # a tie block: one fold, one score
    block_start = np.flatnonzero(new_block)
    block_end = np.r_[block_start[1:], scores.size][np.cumsum(new_block) - 1]
    block_start = block_start[np.cumsum(new_block) - 1]
    fold_start = np.flatnonzero(new_fold)[np.cumsum(new_fold) - 1]
    negative = np.where(positive, 0.0, weights)
    below = np.r_[0.0, np.cumsum(negative)]  # below[i]: negative weight of the sorted positions < i
    beaten = below[block_start] - below[fold_start] + 0.5 * (below[block_end] - below[block_start])
    fold_codes = np.cumsum(new_fold) - 1
    positive_weight = np.bincount(fold_codes, weights=np.where(positive, weights, 0.0))
    negative_weight = np.bincount(fold_codes, weights=negative)
    pairs = float(positive_weight @ negative_weight)
    if pairs <= 0:
        return float("nan")
    return float((weights * beaten)[positive].sum() / pairs)


def normal_interval(value: float, replicates, confidence: float, n: int, bounds=(0.0, 1.0)) -> MetricResult:
    """``value`` plus or minus the normal quantile times the standard deviation of bootstrap ``replicates``,
    clipped to ``bounds``.

    Used where the replicates' spread is right but their centre is not: a cross-validated probe refitted on
    a patient resample learns from fewer distinct patients than the original, so its AUCs sit below the
    original estimate, and their percentiles would too.
    """
    replicates = np.asarray(replicates, dtype=np.float64)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if replicates.size < 2:
        raise ValueError(f"a bootstrap standard deviation needs >= 2 replicates, got {replicates.size}")
    half = float(norm.ppf(0.5 + confidence / 2) * replicates.std(ddof=1))
    return MetricResult(float(value), max(bounds[0], value - half), min(bounds[1], value + half), n)

def mean_with_ci(values, groups, *, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0) -> MetricResult:
    """Mean of ``values`` with a percentile CI that resamples whole ``groups`` (patients), for per-image
    measurements such as texture statistics, where images of one patient are correlated."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("mean_with_ci: no values")
    codes, n_groups = _group_codes(groups, values.size)

    def statistic(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return weights @ values / weights.sum(axis=1), np.ones(weights.shape[0], dtype=bool)

    return _cluster_bootstrap(codes, n_groups, statistic, n_bootstrap, confidence, seed)


def mean_difference_with_ci(values, first, second, groups, *, n_bootstrap: int = 1000, confidence: float = 0.95,
                            seed: int = 0) -> MetricResult:
    """Mean of ``values[first]`` minus mean of ``values[second]`` (boolean masks), with a percentile CI that
    resamples whole ``groups`` (patients) of both sets together; replicates lacking either set are redrawn."""
    values = np.asarray(values, dtype=np.float64).ravel()
    first, second = (np.asarray(mask, dtype=bool).ravel() for mask in (first, second))
    if first.size != values.size or second.size != values.size:
        raise ValueError(f"masks must hold one entry per value: {first.size} and {second.size} for {values.size}")
    if not first.any() or not second.any():
        raise ValueError("mean_difference_with_ci: each of the two sets needs at least one value")
    codes, n_groups = _group_codes(groups, values.size)

    def statistic(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        in_first, in_second = weights[:, first].sum(axis=1), weights[:, second].sum(axis=1)
        valid = (in_first > 0) & (in_second > 0)
        difference = (weights[:, first] @ values[first] / np.maximum(in_first, 1)
                      - weights[:, second] @ values[second] / np.maximum(in_second, 1))
        return difference, valid

    return _cluster_bootstrap(codes, n_groups, statistic, n_bootstrap, confidence, seed)
