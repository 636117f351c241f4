"""Cost of one linear probe with its refit-bootstrap interval at the evaluation set's size: ``bench probe``.

The features are random and patient-clustered (a per-patient component plus per-patch noise), independent of
the labels unless ``signal`` shifts the first feature of lesion patches: the cost does not depend on what
the features hold, and for noise the interval should cover 0.5.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from custom.evaluation.probe import N_BOOTSTRAP, LinearProbe


def clustered_patches(seed: int, n_patients: int, n_lesions: int, controls_per_lesion: int, dim: int,
                      signal: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(features, labels, patient ids)``: lesion patches (label 1, first) belong to 60% of the patients,
    ``controls_per_lesion`` control patches per lesion patch to anyone; the features share a per-patient
    component, so patches of one patient are correlated."""
    rng = np.random.default_rng(seed)
    carriers = rng.choice(n_patients, max(1, int(0.6 * n_patients)), replace=False)
    owner = np.r_[rng.choice(carriers, n_lesions), rng.integers(0, n_patients, n_lesions * controls_per_lesion)]
    labels = (np.arange(owner.size) < n_lesions).astype(np.int64)
    features = rng.normal(size=(n_patients, dim))[owner] + rng.normal(size=(owner.size, dim))
    features[:, 0] += signal * labels
    return features, labels, np.array([f"patient{p:04d}" for p in owner])


def bench_probe(lesions: int = 600, controls_per_lesion: int = 3, patients: int = 225, dim: int = 512,
                n_bootstrap: int = N_BOOTSTRAP, repeats: int = 3, signal: float = 0.0, seed: int = 0) -> dict:
    """Prints (and returns) the median seconds of ``LinearProbe().cross_validate`` with ``n_bootstrap`` refit
    replicates over ``repeats`` data sets, and the AUC and CI of each."""
    seconds, intervals = [], []
    for repeat in range(repeats):
        features, labels, groups = clustered_patches(seed + repeat, patients, lesions, controls_per_lesion, dim, signal)
        start = time.perf_counter()
        metric = LinearProbe().cross_validate(features, labels, groups, n_bootstrap=n_bootstrap, seed=seed + repeat).metric
        seconds.append(time.perf_counter() - start)
        intervals.append(metric)
        print(f"data set {repeat}: AUC {metric.value:.3f} [{metric.ci_low:.3f}, {metric.ci_high:.3f}], "
              f"{seconds[-1]:.1f} s")
    result = {"patches": len(labels), "patients": patients, "dim": dim, "n_bootstrap": n_bootstrap,
              "median_seconds": statistics.median(seconds),
              "mean_half_width": float(np.mean([(m.ci_high - m.ci_low) / 2 for m in intervals]))}
    print(f"{result['patches']} patches ({lesions} lesion) from {patients} patients, {dim}-d, {n_bootstrap} refit "
          f"replicates: {result['median_seconds']:.1f} s per probe with its CI (median of {repeats}); "
          f"mean CI half-width {result['mean_half_width']:.3f}")
    return result
