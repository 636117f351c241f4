"""Shrinkage linear discriminant analysis from weighted class moments: the linear probe's closed-form fit.

Why moments: the probe's confidence interval refits the cross-validated probe on a few hundred patient
resamples (:mod:`.probe_bootstrap`), so each fold's fit must take milliseconds. A fold's training moments
are the whole replicate's minus the fold's own, so one weighted Gram matrix per replicate serves every fold,
and the fit itself is one linear solve.

The model: class means, the pooled within-class covariance shrunk towards its diagonal,
``S = (1 - shrinkage) * S_within + shrinkage * diag(S_within)`` (scale-free: the same as standardising each
feature and shrinking the correlation matrix towards the identity), and equal class priors (so a rare class,
lesions or a high BI-RADS, is not outvoted). Posteriors are the softmax of the discriminants
``x' S^-1 mu_c - mu_c' S^-1 mu_c / 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dposv

# a feature whose within-class variance is below this fraction of its mean square counts as constant
_CONSTANT = 1e-10


@dataclass(frozen=True)
class ClassMoments:
    """Weighted sufficient statistics of samples of ``C`` classes in ``D`` features.

    ``weight[c]``: total weight of class ``c``; ``sums[c]``: weighted sum of its feature vectors;
    ``second``: weighted sum of ``x x'`` over all samples.
    """

    weight: np.ndarray
    sums: np.ndarray
    second: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray, codes: np.ndarray, n_classes: int, weights: np.ndarray | None = None):
        """Moments of ``features`` (n, D) whose class indices are ``codes`` (n,), optionally weighted."""
        features = np.asarray(features, dtype=np.float64)
        weights = np.ones(codes.size) if weights is None else np.asarray(weights, dtype=np.float64)
        weighted = features * weights[:, None]
        members = (np.arange(n_classes)[:, None] == codes[None, :]).astype(np.float64)
        return cls(members @ weights, members @ weighted, weighted.T @ features)

    def __add__(self, other: ClassMoments) -> ClassMoments:
        return ClassMoments(self.weight + other.weight, self.sums + other.sums, self.second + other.second)

    def __sub__(self, other: ClassMoments) -> ClassMoments:
        return ClassMoments(self.weight - other.weight, self.sums - other.sums, self.second - other.second)

    @property
    def present(self) -> np.ndarray:
        """Which classes hold samples (up to rounding of the subtraction of moments)."""
        return self.weight > 1e-9 * max(self.weight.sum(), 1.0)


def discriminant(moments: ClassMoments, shrinkage: float) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``(D, C)`` and intercepts ``(C,)`` of the class discriminants; an absent class gets
    intercept ``-inf`` (posterior 0).

    Raises:
        ValueError: fewer than two classes hold samples.
    """
    present = moments.present
    if present.sum() < 2:
        raise ValueError(f"discriminant analysis needs two classes with samples, got weights {moments.weight.tolist()}")
    means = moments.sums[present] / moments.weight[present, None]
    within = moments.second - (means.T * moments.weight[present]) @ means
    within /= moments.weight[present].sum()
    variance = np.diag(within).copy()
    # rounding leaves about eps * (mean square) in the variance of a feature that is constant within classes
    constant = variance <= _CONSTANT * np.diag(moments.second) / moments.weight[present].sum()
    inverse_scale = 1.0 / np.sqrt(np.where(constant, 1.0, variance))
    shrunk = within  # scaled in place to the shrunk correlation matrix
    shrunk *= inverse_scale[:, None]
    shrunk *= (1.0 - shrinkage) * inverse_scale[None, :]
    if constant.any():
        shrunk[constant, :] = 0.0
        shrunk[:, constant] = 0.0
    np.fill_diagonal(shrunk, 1.0)  # a constant feature: unit scale, uncorrelated
    _, solution, info = dposv(shrunk.T, (means * inverse_scale).T)  # symmetric: .T is the Fortran-ordered view
    if info != 0:
        raise ValueError(f"discriminant analysis: the shrunk covariance is not positive definite (LAPACK info {info})")
    coef = np.zeros((means.shape[1], moments.weight.size), dtype=np.float64)
    coef[:, present] = solution * inverse_scale[:, None]
    intercept = np.full(moments.weight.size, -np.inf, dtype=np.float64)
    intercept[present] = -0.5 * np.einsum("cd,dc->c", means, coef[:, present])
    return coef, intercept


def posteriors(features: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """Class posteriors ``(n, C)`` (softmax of the discriminants; absent classes get 0)."""
    scores = features @ coef + intercept
    scores -= scores.max(axis=1, keepdims=True)
    np.exp(scores, out=scores)
    return scores / scores.sum(axis=1, keepdims=True)
