"""Fixed pair labels chosen once before training, instead of the GMM's labels refreshed every epoch.

Why (docs/pretraining.md): label-free distances single out lesion pairs with an AUC of about 0.75, and labels
refreshed from the training networks lose even that within a few epochs, while the same loss with the true
pair labels beats a random encoder. Over all pairs, labels at AUC 0.75 are mostly wrong; within an exam its
most asymmetric pair or two are right far more often. So:

- ``top_k_per_exam``: in every exam that may hold a lesion, the ``k`` pairs with the highest frozen
  label-free score (:mod:`.pair_scores`) are labelled "different" (1) and the exam's other pairs are left
  out of training (weight 0: they are mostly normal, but some hold the lesion). Pairs of exams known normal
  (``supervision: weak``, the screening outcome) are "same" (0). Without that knowledge (``supervision:
  none``) the exams whose most asymmetric pair is least asymmetric, a share ``symmetric_exam_share`` of the
  exams by their highest raw aligned difference (the exam's largest asymmetry, before standardising within
  it), are taken as normal: their pairs are "same", and they get no positives.
- ``oracle``: a diagnostic that uses the annotations, never a training mode: positives drawn from the true
  lesion pairs and the normal pairs of candidate exams at a chosen ``precision`` and ``recall``, so that the
  loss can be trained with labels of a known quality (the label-precision curve).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from custom.mammography.data.pair_dataset import WEAK_NORMAL
from custom.mammography.engines.pair_scores import PAIR_SCORES, aligned_difference, pair_scores
from custom.training import MixedPrecision, atomic_write_json

logger = logging.getLogger(__name__)
POSITIVES = ("gmm", "top_k_per_exam", "oracle")


@dataclass(frozen=True)
class LabelQuality:
    """How the fixed positives match the truth (diagnostics only: the truth is never a training target)."""

    pairs_kept: int
    positives: int
    negatives: int
    true_positives: int
    lesion_pairs: int
    negatives_holding_a_lesion: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.positives if self.positives else float("nan")

    @property
    def recall(self) -> float:
        return self.true_positives / self.lesion_pairs if self.lesion_pairs else float("nan")

    def as_dict(self) -> dict:
        return {**asdict(self), "precision": self.precision, "recall": self.recall}


def label_quality(labels: np.ndarray, keep: np.ndarray, truth: np.ndarray) -> LabelQuality:
    positive, negative = keep & (labels == 1), keep & (labels == 0)
    return LabelQuality(int(keep.sum()), int(positive.sum()), int(negative.sum()), int((positive & (truth == 1)).sum()),
                        int((truth == 1).sum()), int((negative & (truth == 1)).sum()))


def top_k_per_exam(scores: np.ndarray, exams: np.ndarray, weak_labels: np.ndarray, k: int,
                   symmetric_exam_share: float = 0.5,
                   raw_scores: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, keep)`` per pair: 1 for the ``k`` highest ``scores`` of each exam that may hold a lesion, 0 for
    the pairs of exams taken as normal, the rest left out (``keep`` False).

    Exams known normal are those whose pairs carry weak label 0. If no exam is known normal (fully
    unsupervised), the ``symmetric_exam_share`` of exams with the lowest maximum of ``raw_scores`` (default
    ``scores``) are taken as normal.
    """
    if k < 1:
        raise ValueError(f"k (positives per exam) must be at least 1, got {k}")
    if not 0.0 <= symmetric_exam_share < 1.0:
        raise ValueError(f"symmetric_exam_share must lie in [0, 1), got {symmetric_exam_share}")
    exam_ids = np.unique(exams)
    normal_exam = {int(e): bool((weak_labels[exams == e] == WEAK_NORMAL).all()) for e in exam_ids}
    if not any(normal_exam.values()):
        raw = scores if raw_scores is None else raw_scores
        peak = np.array([raw[exams == e].max() for e in exam_ids])
        symmetric = exam_ids[np.argsort(peak, kind="stable")[: int(round(symmetric_exam_share * exam_ids.size))]]
        normal_exam = {int(e): bool(e in symmetric) for e in exam_ids}
    labels = np.zeros(scores.size, dtype=np.float32)
    keep = np.zeros(scores.size, dtype=bool)
    for e in exam_ids:
        members = np.flatnonzero(exams == e)
        if normal_exam[int(e)]:
            keep[members] = True
            continue
        top = members[np.argsort(-scores[members], kind="stable")[:k]]
        labels[top], keep[top] = 1.0, True
    return labels, keep


def oracle_labels(truth: np.ndarray, weak_labels: np.ndarray, precision: float, recall: float,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, keep)``: a share ``recall`` of the true lesion pairs plus as many normal pairs of candidate exams
    as make the positives' precision ``precision``, labelled 1; pairs of normal exams 0; the rest left out."""
    if not (0.0 < precision <= 1.0 and 0.0 < recall <= 1.0):
        raise ValueError(f"oracle precision and recall must lie in (0, 1], got {precision} and {recall}")
    rng = np.random.default_rng(seed)
    lesion = np.flatnonzero(truth == 1)
    candidates_normal = np.flatnonzero((truth == 0) & (weak_labels != WEAK_NORMAL))
    true_positives = rng.choice(lesion, int(round(recall * lesion.size)), replace=False)
    false_count = int(round(true_positives.size * (1.0 - precision) / precision))
    if false_count > candidates_normal.size:
        raise ValueError(f"precision {precision} at recall {recall} needs {false_count} normal pairs of candidate "
                         f"exams, and there are {candidates_normal.size}")
    false_positives = rng.choice(candidates_normal, false_count, replace=False)
    labels = np.zeros(truth.size, dtype=np.float32)
    keep = weak_labels == WEAK_NORMAL
    chosen = np.r_[true_positives, false_positives].astype(np.int64)
    labels[chosen], keep[chosen] = 1.0, True
    return labels, keep


class FixedPairLabels:
    """Chooses, once, which pairs of a :class:`~custom.mammography.data.pair_dataset.ContralateralPairDataset`
    train and with which fixed label (its ``fixed_labels`` argument). ``positives``: one of :data:`POSITIVES`
    (``"gmm"``: none fixed, the method's own soft labels). ``seeds``: the untrained networks the
    ``max_location`` score uses, those training starts from. ``output_dir``: where ``fixed_labels.json`` (how
    the labels match the truth) goes.
    """

    def __init__(self, positives: str = "gmm", per_exam: int = 1, score: str = "combined",
                 symmetric_exam_share: float = 0.5, oracle_precision: float = 1.0, oracle_recall: float = 1.0,
                 seeds: tuple[int, int] = (0, 1), precision: MixedPrecision | None = None, seed: int = 0,
                 output_dir: str | None = None):
        if positives not in POSITIVES:
            raise ValueError(f"positives must be one of {POSITIVES}, got {positives!r}")
        if score not in PAIR_SCORES:
            raise ValueError(f"pair_score must be one of {PAIR_SCORES}, got {score!r}")
        self.positives = positives
        self.per_exam = int(per_exam)
        self.score = score
        self.symmetric_exam_share = float(symmetric_exam_share)
        self.oracle_precision = float(oracle_precision)
        self.oracle_recall = float(oracle_recall)
        self.seeds = tuple(seeds)
        self.precision = precision or MixedPrecision("cpu", enabled=False)
        self.seed = seed
        self.output_dir = Path(output_dir) if output_dir else None
        self.quality: LabelQuality | None = None

    @property
    def enabled(self) -> bool:
        return self.positives != "gmm"

    def __call__(self, dataset) -> tuple[np.ndarray, np.ndarray] | None:
        """``(labels, keep)`` for the pairs of ``dataset``, or ``None`` for the GMM's labels."""
        if not self.enabled:
            return None
        if self.positives == "oracle":
            labels, keep = oracle_labels(dataset.truth, dataset.weak_labels, self.oracle_precision, self.oracle_recall,
                                         self.seed)
        else:
            scores = pair_scores(dataset, self.score, self.seeds, self.precision)
            labels, keep = top_k_per_exam(scores, dataset.exam_indices, dataset.weak_labels, self.per_exam,
                                          self.symmetric_exam_share, raw_scores=aligned_difference(dataset.patches))
        self.quality = label_quality(labels, keep, dataset.truth)
        logger.info("fixed labels (%s): %s", self.positives, self.quality.as_dict())
        if self.output_dir is not None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.output_dir / "fixed_labels.json",
                              {"option": self.positives, "settings": self._settings(), **self.quality.as_dict()})
        return labels, keep

    def _settings(self) -> dict:
        if self.positives == "oracle":
            return {"precision": self.oracle_precision, "recall": self.oracle_recall, "seed": self.seed}
        return {"per_exam": self.per_exam, "score": self.score, "symmetric_exam_share": self.symmetric_exam_share}

