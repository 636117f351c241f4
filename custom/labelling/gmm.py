"""Soft labels for contralateral pairs from a two-component Gaussian mixture on their distances."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from custom.labelling.mixture import Mixture1D, fit_mixture_1d, single_gaussian_bic

logger = logging.getLogger(__name__)

NORMAL, UNKNOWN = 0, -1


def _as_1d(values, name: str) -> np.ndarray:
    """A 1-D float64 array from an array-like or a (possibly grad-tracking, GPU) tensor."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    return array


def _weak_labels(weak_labels, n: int) -> np.ndarray | None:
    """Validated weak labels: 0 (normal-normal pair) or -1 (unknown), one per distance."""
    if weak_labels is None:
        return None
    labels = _as_1d(weak_labels, "weak_labels")
    if labels.shape[0] != n:
        raise ValueError(f"weak_labels has {labels.shape[0]} entries for {n} distances")
    if not np.isin(labels, (NORMAL, UNKNOWN)).all():
        raise ValueError(
            f"weak labels must be {NORMAL} (normal-normal) or {UNKNOWN} (unknown), got {np.unique(labels)}"
        )
    return labels


def weak_label_targets(weak_labels, unknown_prior: float = 0.5) -> np.ndarray:
    """Targets for the warm-up epochs, before any mixture is fitted.

    Normal-normal pairs (weak label 0) get 0; unknown pairs (-1) get ``unknown_prior``, the assumed
    probability that such a pair differs.
    """
    if not 0.0 <= unknown_prior <= 1.0:
        raise ValueError(f"unknown_prior must lie in [0, 1], got {unknown_prior}")
    labels = _as_1d(weak_labels, "weak_labels")
    labels = _weak_labels(labels, labels.shape[0])
    return np.where(labels == NORMAL, 0.0, unknown_prior)


class GMMSoftLabeller(BaseEstimator):
    """Posterior of the high-distance component of a 2-component 1-D Gaussian mixture, per pair.

    ``fit`` models the distances of all training pairs as "same" (low mean) plus "different" (high mean);
    ``predict_proba`` returns P(different | distance) in ``[0, 1]``, the soft label of the contrastive loss.
    The mixture is fitted on standardised distances, so its regularisation does not depend on the
    embedding scale. Weak labels are accepted by ``fit`` only so that ``fit`` and ``predict_proba`` take the
    same arguments: normal-normal pairs stay in the fit because they anchor the low component.

    The posterior is made non-decreasing in the distance: with unequal variances the wider component wins
    back the far tail, which would call the most different pairs "same". Beyond the posterior's single
    turning point (always outside the interval between the means) the value at that point is kept.

    Degenerate inputs fall back, with a logged warning and ``fallback_`` saying why:

    - no finite distance, or all distances equal: constant 0.5 (no information about any pair);
    - fewer than ``min_samples`` finite distances, component means closer than ``min_separation`` pooled
      standard deviations, a component weight below ``min_weight``, or (``bic_check``) one Gaussian that
      describes the distances better than two by the Bayesian information criterion: the distance min-max
      scaled over the fitted range and clipped to ``[0, 1]``. It keeps the ranking of pairs and, unlike a rank
      transform, does not declare half of the pairs different when most are alike. ``trusted_`` is False then:
      the mixture is no model of the data, and a warm-up can wait until it is.

    The mixture is fitted by EM on a fine histogram (:mod:`custom.labelling.mixture`), deterministic and fast on
    millions of distances.

    Non-finite distances are dropped from the fit (with a warning) and get 0.5 from ``predict_proba``.

    Args:
        min_separation: smallest distance between the component means, in pooled standard deviations
            ``sqrt(w_0 v_0 + w_1 v_1)``, for the mixture to count as two components.
        min_weight: smallest component weight for the mixture to count as two components.
        min_samples: fewest finite distances to fit a mixture on.
        pin_normal: give normal-normal pairs (weak label 0) a soft label of 0 whatever their distance.
        bic_check: fall back when one Gaussian fits the distances better than two (BIC).

    Attributes (after ``fit``): ``means_``, ``variances_``, ``weights_`` (per component, in distance units;
    ``None`` when no mixture was fitted), ``high_component_`` (index of the high-mean component or ``None``),
    ``fallback_`` (``None`` or the reason for falling back), ``trusted_`` (no fallback), ``n_samples_fit_``,
    ``range_`` (``(min, max)`` of the finite fitted distances, the min-max scaling range; ``None`` when the
    fallback is constant), ``bic_`` (``(one Gaussian, two)`` when the check ran).
    """

    def __init__(
        self,
        min_separation: float = 0.5,
        min_weight: float = 1e-3,
        min_samples: int = 10,
        pin_normal: bool = True,
        bic_check: bool = True,
    ) -> None:
        self.min_separation = min_separation
        self.min_weight = min_weight
        self.min_samples = min_samples
        self.pin_normal = pin_normal
        self.bic_check = bic_check

    def fit(self, distances, weak_labels=None) -> "GMMSoftLabeller":
        """Fit the mixture on the finite ``(n,)`` distances of all training pairs (or fall back, see above)."""
        distances = _as_1d(distances, "distances")
        _weak_labels(weak_labels, distances.shape[0])
        finite = distances[np.isfinite(distances)]
        if finite.size < distances.size:
            logger.warning(
                "GMM soft labels: dropped %d non-finite of %d distances", distances.size - finite.size, distances.size
            )
        self.n_samples_fit_ = int(finite.size)
        self.means_ = self.variances_ = self.weights_ = self.high_component_ = self.range_ = self.mixture_ = None
        self.fallback_, self.bic_ = None, None
        if finite.size == 0:
            return self._fall_back("no finite distance: constant soft label 0.5")
        low, high = float(finite.min()), float(finite.max())
        if high - low <= 1e-9 * max(abs(low), abs(high)):
            return self._fall_back(f"all {finite.size} distances equal ({low:.6g}): constant soft label 0.5")
        self.range_ = (low, high)
        self.center_, self.scale_ = float(finite.mean()), float(finite.std())
        if finite.size < self.min_samples:
            return self._fall_back(
                f"only {finite.size} finite distances (< min_samples={self.min_samples}): min-max scaled distance"
            )
        self._fit_mixture(finite)
        separation = abs(self.means_[1] - self.means_[0]) / np.sqrt(np.dot(self.weights_, self.variances_))
        if separation < self.min_separation:
            return self._fall_back(
                f"components collapsed: means {separation:.3g} pooled std apart (< min_separation="
                f"{self.min_separation}): min-max scaled distance"
            )
        if self.weights_.min() < self.min_weight:
            return self._fall_back(
                f"component weight {self.weights_.min():.3g} < min_weight={self.min_weight}: min-max scaled distance"
            )
        if self.bic_check:
            self.bic_ = (single_gaussian_bic((finite - self.center_) / self.scale_), self.mixture_.bic())
            if self.bic_[0] <= self.bic_[1]:
                return self._fall_back(
                    f"one Gaussian fits the {finite.size} distances better than two (BIC {self.bic_[0]:.1f} <= "
                    f"{self.bic_[1]:.1f}): min-max scaled distance"
                )
        return self

    @property
    def trusted_(self) -> bool:
        """The mixture was fitted and passed every check: its posteriors model the data."""
        check_is_fitted(self, "fallback_")
        return self.fallback_ is None

    def _fit_mixture(self, finite: np.ndarray) -> None:
        """Fit the mixture on standardised distances; report its parameters in distance units."""
        self.mixture_ = fit_mixture_1d((finite - self.center_) / self.scale_)
        self._set_mixture(self.mixture_)

    def _set_mixture(self, mixture: Mixture1D) -> None:
        self.mixture_ = mixture
        self.means_ = mixture.means * self.scale_ + self.center_
        self.variances_ = mixture.variances * self.scale_**2
        self.weights_ = mixture.weights.copy()
        self.high_component_ = int(np.argmax(self.means_))

    def _fall_back(self, reason: str) -> "GMMSoftLabeller":
        logger.warning("GMM soft labels fall back: %s", reason)
        self.fallback_ = reason
        return self

    def predict_proba(self, distances, weak_labels=None) -> np.ndarray:
        """Soft label per pair: P(the pair differs | distance), ``(n,)`` float64 in ``[0, 1]``.

        ``weak_labels``: 0 (normal-normal; pinned to 0 when ``pin_normal``) or -1 (unknown) per pair.
        """
        check_is_fitted(self, "fallback_")
        distances = _as_1d(distances, "distances")
        labels = _weak_labels(weak_labels, distances.shape[0])
        finite = np.isfinite(distances)
        if not finite.all():
            logger.warning("GMM soft labels: %d non-finite distances get soft label 0.5", int((~finite).sum()))
        proba = np.full(distances.shape, 0.5)
        proba[finite] = self._posterior(distances[finite])
        if self.pin_normal and labels is not None:
            proba[labels == NORMAL] = 0.0
        return proba

    def _posterior(self, distances: np.ndarray) -> np.ndarray:
        if self.fallback_ is None:
            return self._mixture_posterior(distances)
        if self.range_ is None:
            return np.full(distances.shape, 0.5)
        low, high = self.range_
        return np.clip((distances - low) / (high - low), 0.0, 1.0)

    def _mixture_posterior(self, distances: np.ndarray) -> np.ndarray:
        """High-component posterior, clamped at its turning point so that it never decreases."""
        mu, var = self.mixture_.means, self.mixture_.variances
        high, low = self.high_component_, 1 - self.high_component_
        z = (distances - self.center_) / self.scale_
        if not np.isclose(var[high], var[low]):
            # stationary point of the log posterior ratio, a quadratic in z
            turn = (mu[high] / var[high] - mu[low] / var[low]) / (1 / var[high] - 1 / var[low])
            z = np.minimum(z, turn) if var[high] < var[low] else np.maximum(z, turn)
        return self.mixture_.posterior(z)[:, high]
