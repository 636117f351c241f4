"""Confidence intervals of a cross-validated linear probe that include the variance of its own fitting.

The probe's AUC is a cross-validated estimate: patient-grouped folds, a model fitted on each fold's other
patients, its AUC on the fold's own. Resampling fixed out-of-fold predictions captures only the sampling
variance of the test patients, not that of the fitted models, and 95% intervals of an uninformative encoder
then covered 0.5 in only about 83% of cases. Here every bootstrap replicate redoes the whole
cross-validation:

1. draw patients with replacement (a patient drawn k times enters with weight k, all copies in one fold);
2. split the drawn patients into folds again (:func:`patient_folds`);
3. fit the shrinkage-LDA probe (:mod:`.lda`) on each fold's other patients and score the fold;
4. take the within-fold AUC (:func:`~.metrics.within_fold_auc`), macro-averaged one-vs-rest for more than two
   classes.

The interval is the estimate plus or minus the normal quantile times the replicates' standard deviation
(:func:`~.metrics.normal_interval`). The resamples and folds depend only on the labels, the patient ids and
the seed, never on the features, so two encoders probed on the same patches get the same replicates and
their AUC difference has its own paired interval (:func:`paired_auc_difference`).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from .lda import ClassMoments, discriminant, posteriors
from .metrics import within_fold_auc

# give up when more than this many resamples per requested replicate lack a class or a fold's training class
_MAX_DRAWS_PER_REPLICATE = 20


@dataclass(frozen=True)
class RefitBootstrap:
    """A cross-validated probe AUC and its refit-bootstrap replicates.

    ``oof_proba`` (n, C) and ``folds`` (n,) are those of the original data; ``replicates`` (B,) the AUCs of
    the resampled cross-validations; ``plan`` fingerprints what fixes the resamples (labels, patients, seed,
    folds, replicate count): equal plans mean paired replicates. ``shrinkage``: what each fold of the original
    data was fitted with.
    """

    value: float
    oof_proba: np.ndarray
    folds: np.ndarray
    replicates: np.ndarray
    plan: str
    shrinkage: tuple[float, ...]


class SingleClassFold(ValueError):
    """A fold's training part holds fewer than two classes, so no probe can be fitted on it."""


def patient_folds(class_counts: np.ndarray, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Fold (``0 .. n_splits - 1``) of each patient, given its ``(P, C)`` patch weight per class.

    Patients are ordered by the rarest class they carry (rarest first), then by how much of it (most first),
    ties at random, and dealt to the folds back and forth (0, 1, .., K-1, K-1, .., 0, ..) through a random
    permutation of the folds: every fold gets a like share of each class's patients, as in
    ``StratifiedGroupKFold``, at the cost of a sort, which matters when it runs once per bootstrap replicate.
    """
    n_patients, n_classes = class_counts.shape
    rank = np.argsort(np.argsort(class_counts.sum(axis=0), kind="stable"), kind="stable")  # 0: rarest class
    rarest = np.where(class_counts > 0, rank, n_classes).argmin(axis=1)
    amount = class_counts[np.arange(n_patients), rarest]
    order = np.lexsort((rng.random(n_patients), -amount, rank[rarest]))
    position = np.empty(n_patients, dtype=np.int64)
    position[order] = np.arange(n_patients)
    lap, seat = np.divmod(position, n_splits)
    seat = np.where(lap % 2 == 0, seat, n_splits - 1 - seat)
    return rng.permutation(n_splits)[seat]


def _auc(codes: np.ndarray, proba: np.ndarray, folds: np.ndarray, weights: np.ndarray, classes: np.ndarray) -> float:
    """Within-fold AUC of class 1 (two classes) or macro one-vs-rest AUC over ``classes``; NaN if undefined."""
    if proba.shape[1] == 2:
        return within_fold_auc(codes == 1, proba[:, 1], folds, weights)
    return float(np.mean([within_fold_auc(codes == c, proba[:, c], folds, weights) for c in classes]))


def _cross_validate(features, codes, n_classes, weights, folds, shrinkage) -> tuple[np.ndarray, tuple[float, ...]]:
    """Out-of-fold posteriors of the rows with positive weight (other rows stay 0), and the shrinkage each
    fold's model was fitted with: ``shrinkage`` itself, or for a grid (a tuple) the value chosen by
    cross-validating that fold's training part on its own folds, the other outer folds (nested).

    Raises:
        SingleClassFold: a fold's training part holds fewer than two classes.
    """
    proba = np.zeros((codes.size, n_classes))
    parts = {k: np.flatnonzero((folds == k) & (weights > 0)) for k in np.unique(folds[weights > 0])}
    moments = {k: ClassMoments.of(features[rows], codes[rows], n_classes, weights[rows]) for k, rows in parts.items()}
    total = sum(moments.values(), start=ClassMoments(0.0, 0.0, 0.0))
    chosen = []
    for k, rows in parts.items():
        training = total - moments[k]
        if training.present.sum() < 2:
            raise SingleClassFold(f"fold {k}: the training part holds only classes {np.flatnonzero(training.present).tolist()}")
        value = shrinkage
        if isinstance(shrinkage, tuple):
            inner = {j: part for j, part in parts.items() if j != k}
            value = _best_shrinkage(features, codes, weights, folds, inner, moments, training, shrinkage)
        proba[rows] = posteriors(features[rows], *discriminant(training, value))
        chosen.append(value)
    return proba, tuple(chosen)


def _best_shrinkage(features, codes, weights, folds, inner_parts, moments, training, grid) -> float:
    """The value of ``grid`` whose probe, fitted on ``training`` minus each fold of ``inner_parts`` (fold to rows)
    and scored on that fold, has the highest within-fold AUC; ties go to the larger shrinkage (the simpler
    model), and so does a training part too small to tell."""
    candidates = sorted(grid, reverse=True)
    proba = np.zeros((len(candidates), codes.size, training.weight.size))
    scored = np.zeros(codes.size, dtype=bool)
    for k, rows in inner_parts.items():
        inner = training - moments[k]
        if inner.present.sum() < 2:
            continue
        for i, value in enumerate(candidates):
            proba[i, rows] = posteriors(features[rows], *discriminant(inner, value))
        scored[rows] = True
    inner_weights = np.where(scored, weights, 0.0)
    classes = np.flatnonzero(training.present)
    aucs = np.array([_auc(codes, p, folds, inner_weights, classes) for p in proba])
    return candidates[int(np.nanargmax(aucs))] if np.isfinite(aucs).any() else candidates[0]


def choose_shrinkage(features, codes, patients, grid, *, n_splits: int = 5, seed: int = 0) -> float:
    """The value of ``grid`` with the best within-fold AUC of a ``n_splits``-fold cross-validation grouped by
    patient on ``features`` (n, D), class indices ``codes`` and patient indices ``patients`` (both (n,))."""
    features = np.asarray(features, dtype=np.float64)
    codes, patients = np.asarray(codes).ravel(), np.asarray(patients).ravel()
    n_classes = int(codes.max()) + 1
    class_counts = np.zeros((int(patients.max()) + 1, n_classes))
    np.add.at(class_counts, (patients, codes), 1.0)
    folds = patient_folds(class_counts, n_splits, np.random.default_rng(seed))[patients]
    parts = {k: np.flatnonzero(folds == k) for k in np.unique(folds)}
    moments = {k: ClassMoments.of(features[rows], codes[rows], n_classes) for k, rows in parts.items()}
    total = sum(moments.values(), start=ClassMoments(0.0, 0.0, 0.0))
    return _best_shrinkage(features, codes, np.ones(codes.size), folds, parts, moments, total, tuple(grid))


def _plan(codes, patients, seed, n_splits, n_bootstrap) -> str:
    digest = hashlib.sha1()
    for part in (codes, patients, np.array([seed, n_splits, n_bootstrap])):
        digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def refit_bootstrap(
    features,
    codes,
    patients,
    *,
    shrinkage: float | tuple[float, ...],
    n_splits: int = 5,
    seed: int = 0,
    n_bootstrap: int = 200,
    workers: int | None = None,
    reselect: bool = False,
) -> RefitBootstrap:
    """Cross-validated probe AUC on ``features`` (n, D) with class indices ``codes`` (n,, ``0 .. C-1``, every
    class present) and patient indices ``patients`` (n,, ``0 .. P-1``), and ``n_bootstrap`` replicates of
    it, each a patient resample cross-validated afresh.

    With a shrinkage grid, the estimate is nested: each fold's shrinkage is chosen on that fold's training part
    alone. The replicates then refit at the value chosen most often on the original data (ties to the larger),
    unless ``reselect``, which chooses afresh in every fold of every replicate: about ten times the cost, for
    an interval that also holds the variance of the choice (docs/statistics.md compares the two).

    Raises:
        SingleClassFold: a fold of the original data has a single-class training part.
        ValueError: resamples that keep every class in the training part of every fold are too rare (fewer
            than one draw in ``_MAX_DRAWS_PER_REPLICATE``).

    BLAS runs single-threaded here: the matrices are small (D x D per fold), and on a busy 2-core machine a
    second BLAS thread made a replicate 30 times slower (measured: 1.26 s instead of 0.04 s). The replicates
    are fitted instead by ``workers`` threads (default: one per CPU core available, at most 4), which run
    in parallel because BLAS and LAPACK release the GIL; the result does not depend on their number.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _refit_bootstrap(np.asarray(features, dtype=np.float64), codes, patients, shrinkage, n_splits, seed,
                                n_bootstrap, workers or default_workers(), reselect)


def default_workers() -> int:
    """Threads for the replicates: the CPU cores this process may use, at most 4."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _refit_bootstrap(features, codes, patients, shrinkage, n_splits, seed, n_bootstrap, workers,
                     reselect) -> RefitBootstrap:
    features = features - features.mean(axis=0)  # keeps the moments' subtractions well conditioned
    n_classes = int(codes.max()) + 1
    n_patients = int(patients.max()) + 1
    classes = np.arange(n_classes)
    class_counts = np.zeros((n_patients, n_classes))
    np.add.at(class_counts, (patients, codes), 1.0)
    rng = np.random.default_rng(seed)

    folds = patient_folds(class_counts, n_splits, rng)[patients]
    ones = np.ones(codes.size)
    oof_proba, chosen = _cross_validate(features, codes, n_classes, ones, folds, shrinkage)
    value = _auc(codes, oof_proba, folds, ones, classes)
    if np.isnan(value):
        raise SingleClassFold("no fold holds both a class and another class in its test part")

    resamples = _resamples(codes, patients, class_counts, n_splits, n_bootstrap, rng)
    replicate_shrinkage = shrinkage if reselect or not isinstance(shrinkage, tuple) else _most_chosen(chosen)

    def replicate(resample: tuple[np.ndarray, np.ndarray]) -> float:
        weights, replicate_folds = resample
        proba, _ = _cross_validate(features, codes, n_classes, weights, replicate_folds, replicate_shrinkage)
        return _auc(codes, proba, replicate_folds, weights, classes)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        replicates = np.fromiter(pool.map(replicate, resamples), dtype=np.float64, count=len(resamples))
    return RefitBootstrap(value, oof_proba, folds, replicates, _plan(codes, patients, seed, n_splits, n_bootstrap),
                          chosen)


def _most_chosen(chosen: tuple[float, ...]) -> float:
    """The value chosen in most folds; a tie goes to the larger (the simpler model)."""
    values, counts = np.unique(chosen, return_counts=True)
    return float(values[counts == counts.max()].max())


def _resamples(codes, patients, class_counts, n_splits, n_bootstrap, rng) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_bootstrap`` (sample weights, folds) of patient resamples whose cross-validation is defined: every
    class drawn, every fold's training part with two classes or more, some fold's test part with two.

    All of that depends on the labels and patients only, never on the features, so the resamples are drawn
    here, in order, before any fitting: the replicates of two encoders stay paired, and their fits can run
    in parallel.
    """
    n_patients, n_classes = class_counts.shape
    classes = np.arange(n_classes)
    resamples, drawn = [], 0
    while len(resamples) < n_bootstrap:
        if drawn >= _MAX_DRAWS_PER_REPLICATE * n_bootstrap:
            raise ValueError(
                f"refit bootstrap: only {len(resamples)} of {drawn} patient resamples keep every class in the "
                f"training part of every fold; too few of the {n_patients} patients carry the rarer classes"
            )
        drawn += 1
        draws = rng.multinomial(n_patients, np.full(n_patients, 1.0 / n_patients))
        if not (draws @ class_counts > 0).all():
            continue
        chosen = np.flatnonzero(draws)
        patient_fold = np.full(n_patients, -1)
        patient_fold[chosen] = patient_folds(class_counts[chosen] * draws[chosen, None], n_splits, rng)
        weights = draws[patients].astype(np.float64)
        replicate_folds = patient_fold[patients]
        if not _folds_trainable(codes, n_classes, weights, replicate_folds):
            continue
        if np.isnan(_auc(codes, np.zeros((codes.size, n_classes)), replicate_folds, weights, classes)):
            continue  # no fold's test part holds two classes: with constant scores, the AUC is defined or NaN alike
        resamples.append((weights, replicate_folds))
    return resamples


def _folds_trainable(codes, n_classes, weights, folds) -> bool:
    """Whether the training part of every fold that holds weighted samples has two classes or more (the
    test of :attr:`~.lda.ClassMoments.present` on the training moments that :func:`_cross_validate` forms)."""
    used = weights > 0
    fold_ids, fold_of_row = np.unique(folds[used], return_inverse=True)
    class_weight = np.zeros((fold_ids.size, n_classes))
    np.add.at(class_weight, (fold_of_row, codes[used]), weights[used])
    training = class_weight.sum(axis=0) - class_weight
    present = training > 1e-9 * np.maximum(training.sum(axis=1, keepdims=True), 1.0)
    return bool((present.sum(axis=1) >= 2).all())
