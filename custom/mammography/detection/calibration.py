"""What the detector learns from training exams, in a JSON-ready form.

- The GMM that turns asymmetry distances into "this location differs" probabilities: a
  :class:`GMMSoftLabeller`, saved as its mixture parameters in distance units and rebuilt exactly.
- The normal-tissue reference that decides which breast holds the difference: the mean embedding of normal
  tissue and the typical distance of normal tissue from it (median, and a robust spread). One mean vector is
  the simplest description of "normal" that survives a JSON file and costs one subtraction per cell; a
  location's *atypicality* is its distance from that mean in robust standard units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from custom.labelling import GMMSoftLabeller, Mixture1D

# median absolute deviation -> standard deviation for a normal distribution
_MAD_TO_STD = 1.4826


def _floats(values) -> list[float] | None:
    return None if values is None else [float(v) for v in np.ravel(values)]


def labeller_state(labeller: GMMSoftLabeller) -> dict:
    """A fitted labeller's parameters and mixture (distance units) as plain JSON values."""
    return {
        "params": labeller.get_params(),
        "means": _floats(labeller.means_),
        "variances": _floats(labeller.variances_),
        "weights": _floats(labeller.weights_),
        "center": getattr(labeller, "center_", None),
        "scale": getattr(labeller, "scale_", None),
        "range": _floats(labeller.range_),
        "fallback": labeller.fallback_,
        "n_samples_fit": labeller.n_samples_fit_,
    }


def labeller_from_state(state: dict) -> GMMSoftLabeller:
    """The labeller :func:`labeller_state` describes, predicting exactly as the fitted one did."""
    labeller = GMMSoftLabeller(**state["params"])
    labeller.n_samples_fit_ = int(state["n_samples_fit"])
    labeller.fallback_ = state["fallback"]
    labeller.range_ = None if state["range"] is None else tuple(state["range"])
    if state["center"] is not None:
        labeller.center_, labeller.scale_ = float(state["center"]), float(state["scale"])
    labeller.means_ = labeller.variances_ = labeller.weights_ = labeller.high_component_ = labeller.mixture_ = None
    labeller.bic_ = None
    if state["means"] is not None:  # the mixture on standardised distances, rebuilt from distance units
        center, scale = labeller.center_, labeller.scale_
        labeller._set_mixture(Mixture1D(
            means=(np.asarray(state["means"]) - center) / scale, variances=np.asarray(state["variances"]) / scale**2,
            weights=np.asarray(state["weights"]), log_likelihood=float("nan"), n=labeller.n_samples_fit_))
    return labeller


@dataclass
class NormalTissueReference:
    """Mean embedding of normal tissue and how far normal tissue typically lies from it.

    ``typical_distance`` is the median distance of normal cells from ``mean``; ``spread`` the robust standard
    deviation of those distances (1.4826 x their median absolute deviation).
    """

    mean: np.ndarray
    typical_distance: float
    spread: float

    @classmethod
    def fit(cls, embeddings: np.ndarray) -> "NormalTissueReference":
        """From ``(N, D)`` embeddings of normal-tissue cells."""
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if embeddings.ndim != 2 or embeddings.shape[0] < 2:
            raise ValueError(f"need (N >= 2, D) normal-tissue embeddings, got shape {embeddings.shape}")
        mean = embeddings.mean(axis=0)
        distances = np.linalg.norm(embeddings - mean, axis=1)
        typical = float(np.median(distances))
        spread = _MAD_TO_STD * float(np.median(np.abs(distances - typical)))
        return cls(mean=mean, typical_distance=typical, spread=max(spread, 1e-6 * max(typical, 1.0)))

    def atypicality(self, embeddings: np.ndarray) -> np.ndarray:
        """``(N,)`` distance of ``(N, D)`` embeddings from the normal mean, in robust standard units above typical."""
        distances = np.linalg.norm(np.asarray(embeddings, dtype=np.float64) - self.mean, axis=-1)
        return (distances - self.typical_distance) / self.spread

    def to_dict(self) -> dict:
        return {"mean": _floats(self.mean), "typical_distance": self.typical_distance, "spread": self.spread}

    @classmethod
    def from_dict(cls, state: dict) -> "NormalTissueReference":
        return cls(mean=np.asarray(state["mean"], dtype=np.float64), typical_distance=float(state["typical_distance"]),
                   spread=float(state["spread"]))
