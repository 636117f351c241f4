"""Label-free asymmetry scores of contralateral pairs, computed once before training.

A lesion makes one side of its pair differ from the other; so do normal asymmetries and misalignment. Two
scores that use no annotation and no trained network (docs/pretraining.md, "Label quality"):

- ``max_location``: the untrained Siamese networks' largest distance between corresponding locations of the
  two patches' feature maps (a random ResNet-18 sees texture and local density), summed over both networks;
- ``aligned_difference``: the 99th percentile of the absolute pixel difference of the two aligned patches;
- ``combined``: the sum of the two, each standardised within its exam.

Each is standardised within the exam (minus the exam's mean, over its standard deviation): pairs of one exam
share its anatomy, registration and acquisition, so a pair that stands out from its own exam is what a lesion
looks like, while exams differ from each other in breast size, density and alignment.
"""

from __future__ import annotations

import numpy as np
import torch

from custom.mammography.engines.embedding import pair_distances
from custom.networks import CoTrainedSiamesePair
from custom.training import MixedPrecision

PAIR_SCORES = ("max_location", "aligned_difference", "combined")


def standardise_within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``values`` minus their group's mean, over their group's standard deviation (0 for a one-member group)."""
    _, codes, counts = np.unique(groups, return_inverse=True, return_counts=True)
    codes = codes.ravel()
    mean = np.bincount(codes, values) / counts
    spread = np.sqrt(np.maximum(np.bincount(codes, values**2) / counts - mean**2, 0.0))
    centred = values - mean[codes]
    return np.divide(centred, spread[codes], out=np.zeros_like(centred, dtype=np.float64),
                     where=spread[codes] > 1e-12)


def aligned_difference(patches: np.ndarray, percentile: float = 99.0, chunk: int = 2048) -> np.ndarray:
    """The ``percentile`` of ``|a - b|`` over the pixels of each pair, ``patches`` ``(N, 2, P, P)``, in chunks."""
    scores = np.empty(len(patches), dtype=np.float64)
    for start in range(0, len(patches), chunk):
        part = patches[start:start + chunk].astype(np.float32)
        difference = np.abs(part[:, 0] - part[:, 1]).reshape(len(part), -1)
        scores[start:start + chunk] = np.percentile(difference, percentile, axis=1)
    return scores


def untrained_max_location(dataset, seeds: tuple[int, int], precision: MixedPrecision,
                           batch_size: int = 256) -> np.ndarray:
    """Both untrained networks' max-location distances of every pair, each standardised within its exam, summed.

    The networks are the ones training would start from (``seeds``), built afresh here so that nothing trained
    leaks into the score.
    """
    networks = CoTrainedSiamesePair(seeds=seeds, distance="max_location", normalize=True).to(precision.device)
    networks = precision.prepare_model(networks)
    distance_a, distance_b = pair_distances(networks, dataset, precision, batch_size, progress=False)
    exams = dataset.exam_indices
    return standardise_within(distance_a.astype(np.float64), exams) + standardise_within(
        distance_b.astype(np.float64), exams)


def pair_scores(dataset, score: str, seeds: tuple[int, int], precision: MixedPrecision) -> np.ndarray:
    """The exam-standardised ``score`` (one of :data:`PAIR_SCORES`) of every pair of a
    :class:`~custom.mammography.data.pair_dataset.ContralateralPairDataset`; higher means more asymmetric."""
    if score not in PAIR_SCORES:
        raise ValueError(f"pair score must be one of {PAIR_SCORES}, got {score!r}")
    exams = dataset.exam_indices
    parts = []
    if score in ("max_location", "combined"):
        with torch.random.fork_rng(devices=[]):
            parts.append(standardise_within(untrained_max_location(dataset, seeds, precision), exams))
    if score in ("aligned_difference", "combined"):
        parts.append(standardise_within(aligned_difference(dataset.patches), exams))
    return np.sum(parts, axis=0)
