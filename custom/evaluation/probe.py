"""The linear probe as an estimator: shrinkage LDA, cross-validated by patient with a refit-bootstrap interval."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .lda import ClassMoments, discriminant, posteriors
from .metrics import MetricResult, normal_interval
from .probe_bootstrap import choose_shrinkage, refit_bootstrap

SHRINKAGE = 0.1
# the values nested cross-validation chooses from (``LinearProbe(shrinkage=SHRINKAGE_GRID)``): from nearly
# the plain within-class covariance to its diagonal alone, evenly on a log scale
SHRINKAGE_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
# refit-bootstrap replicates: the interval uses their standard deviation, which 200 replicates give to about
# 5% (relative standard error 1 / sqrt(2 (B - 1))); see docs/statistics.md for the cost
N_BOOTSTRAP = 200
INTERVAL = "estimate +- z * sd of the AUCs of patient resamples, each cross-validated afresh (refit bootstrap)"


@dataclass(frozen=True)
class ProbeResult:
    """Out-of-fold predictions of a cross-validated probe, its metric and the metric's bootstrap replicates.

    ``oof_proba[i, k]`` is the probability of ``classes[k]`` for sample ``i``, predicted by the model of
    the fold (``folds[i]``) whose training part did not contain sample ``i``'s patient. ``replicates`` are the
    metric on patient resamples, each cross-validated afresh (:mod:`.probe_bootstrap`); ``plan`` fingerprints
    the resampling, so two results with the same plan can be compared pairwise
    (:func:`~.paired.paired_auc_difference`). ``shrinkage``: the shrinkage each fold's model was fitted with
    (the fixed value, or what nested cross-validation chose in that fold).
    """

    oof_proba: np.ndarray
    classes: np.ndarray
    folds: np.ndarray
    metric_name: str
    metric: MetricResult
    replicates: np.ndarray
    plan: str
    shrinkage: tuple[float, ...] = ()


class LinearProbe(ClassifierMixin, BaseEstimator):
    """Linear discriminant analysis with the within-class covariance shrunk towards its diagonal, equal
    class priors (see :mod:`.lda`).

    A closed-form linear classifier rather than a logistic regression so that the probe can be refitted on
    hundreds of patient resamples for its confidence interval in seconds; on the same embeddings its AUCs
    are close to those of the logistic probe it replaced (``docs/statistics.md``).

    Args:
        shrinkage: weight of the diagonal in the shrunk covariance, in (0, 1]; keeps the fit defined when
            there are fewer patches than embedding dimensions. A sequence of such values (e.g.
            :data:`SHRINKAGE_GRID`) is chosen from by cross-validation grouped by patient inside every
            training part: in ``fit`` over ``groups``, in :meth:`cross_validate` within each outer fold
            (nested), so that no encoder is judged at a value that suits another one's spectrum.
        reselect: with a grid, choose afresh in every bootstrap replicate too, instead of refitting the replicates
            at the value the nested estimate chose most (see :func:`~.probe_bootstrap.refit_bootstrap`).
    """

    def __init__(self, shrinkage: float | Sequence[float] = SHRINKAGE, reselect: bool = False) -> None:
        self.shrinkage = shrinkage
        self.reselect = reselect

    def _checked_shrinkage(self) -> float | tuple[float, ...]:
        values = tuple(self.shrinkage) if isinstance(self.shrinkage, Sequence) else (self.shrinkage,)
        if not values or not all(0 < float(value) <= 1 for value in values):
            raise ValueError(f"shrinkage must lie in (0, 1] (or be a sequence of such values), got {self.shrinkage}")
        return tuple(float(v) for v in values) if isinstance(self.shrinkage, Sequence) else float(self.shrinkage)

    def fit(self, X, y, sample_weight=None, groups=None) -> "LinearProbe":  # noqa: N803 - scikit-learn's names
        """Fit on ``X`` (n, D) and labels ``y``; a shrinkage grid needs ``groups`` (patient ids) to choose from it
        by 5-fold cross-validation grouped by patient."""
        shrinkage = self._checked_shrinkage()
        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        self.classes_, codes = np.unique(np.asarray(y).ravel(), return_inverse=True)
        codes = codes.ravel()
        self.mean_ = X.mean(axis=0)
        centred = X - self.mean_
        if isinstance(shrinkage, tuple):
            if groups is None:
                raise ValueError("choosing the shrinkage from a grid needs groups (patient ids) for its cross-validation")
            _, patients = np.unique(np.asarray(groups).ravel(), return_inverse=True)
            shrinkage = choose_shrinkage(centred, codes, patients.ravel(), shrinkage)
        self.shrinkage_ = shrinkage
        moments = ClassMoments.of(centred, codes, self.classes_.size, sample_weight)
        self.coef_, self.intercept_ = discriminant(moments, shrinkage)
        return self

    def predict_proba(self, X) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "coef_")
        return posteriors(np.asarray(X, dtype=np.float64) - self.mean_, self.coef_, self.intercept_)

    def predict(self, X) -> np.ndarray:  # noqa: N803
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def cross_validate(
        self,
        embeddings,
        labels,
        groups,
        n_splits: int = 5,
        seed: int = 0,
        *,
        n_bootstrap: int = N_BOOTSTRAP,
        confidence: float = 0.95,
    ) -> ProbeResult:
        """Out-of-fold probabilities from patient-grouped folds (a patient is never in both the training and
        the test part of a fold), and the within-fold ROC AUC (two classes) or macro one-vs-rest AUC (more),
        with a confidence interval from ``n_bootstrap`` patient resamples, each cross-validated afresh, so
        that the interval holds the variance of the probe's fitting (and of its shrinkage choice, for a grid)
        as well as that of the patients (:func:`~.probe_bootstrap.refit_bootstrap`). A class missing from a
        fold's training part gets probability 0 in that fold.

        Raises:
            ValueError: fewer than two classes, fewer patients than folds, mismatched lengths, or a fold
                whose training part holds a single class.
        """
        shrinkage = self._checked_shrinkage()
        X = np.asarray(embeddings, dtype=np.float64)  # noqa: N806 - the design matrix, as scikit-learn names it
        y = np.asarray(labels).ravel()
        groups = np.asarray(groups).ravel()
        if not X.ndim == 2 or not X.shape[0] == y.size == groups.size:
            raise ValueError(f"need (n, D) embeddings with n labels and groups, got {X.shape}, {y.size}, {groups.size}")
        classes, codes = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"the probe needs at least two classes, got {classes.tolist()}")
        patients, patient_codes = np.unique(groups, return_inverse=True)
        if patients.size < n_splits:
            raise ValueError(f"{n_splits}-fold grouped cross-validation needs >= {n_splits} patients, got {patients.size}")
        boot = refit_bootstrap(X, codes.ravel(), patient_codes.ravel(), shrinkage=shrinkage, n_splits=n_splits,
                               seed=seed, n_bootstrap=n_bootstrap, reselect=self.reselect)
        metric = normal_interval(boot.value, boot.replicates, confidence, y.size)
        name = "roc_auc" if classes.size == 2 else "macro_roc_auc"
        return ProbeResult(boot.oof_proba, classes, boot.folds, name, metric, boot.replicates, boot.plan,
                           boot.shrinkage)
