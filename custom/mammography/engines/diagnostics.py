"""How well the soft labels match the truth: mean soft label per kind of pair, with patient-level CIs."""

from __future__ import annotations

import numpy as np

from custom.mammography.data.pair_dataset import WEAK_NORMAL
from custom.evaluation.metrics import mean_difference_with_ci, mean_with_ci


def _mean_with_ci(values: np.ndarray, patients: np.ndarray) -> dict:
    """Mean with a 95% patient-bootstrap CI (pairs of a patient correlate); ``None`` fields for no values."""
    if len(values) == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    result = mean_with_ci(values, patients)
    return {"mean": result.value, "ci_low": result.ci_low, "ci_high": result.ci_high, "n": result.n}


def soft_label_report(soft_labels: np.ndarray, weak_labels: np.ndarray, truth: np.ndarray, patients: np.ndarray) -> dict:
    """Mean soft label of pairs holding a lesion, of normal tissue in candidate studies, and of normal-normal pairs.

    ``soft_labels`` should be the GMM posteriors *before* normal-normal pairs are pinned to 0, otherwise the
    normal-normal group says nothing. The gap lesion minus normal-normal gets a paired bootstrap CI.
    """
    groups = {
        "lesion": truth == 1,
        "candidate_normal": (truth == 0) & (weak_labels != WEAK_NORMAL),
        "normal_normal": weak_labels == WEAK_NORMAL,
    }
    report = {name: _mean_with_ci(soft_labels[mask], patients[mask]) for name, mask in groups.items()}
    lesion, normal = groups["lesion"], groups["normal_normal"]
    if lesion.any() and normal.any():
        gap = mean_difference_with_ci(soft_labels, lesion, normal, patients, seed=1)
        report["gap_lesion_minus_normal_normal"] = {"mean": gap.value, "ci_low": gap.ci_low, "ci_high": gap.ci_high}
    return report
