"""Training engine of the co-trained Siamese networks: iteration, soft labels, handlers, precision."""

from custom.engines.cotraining import CoTrainingIteration
from custom.engines.handlers import ProgressBarHandler, SoftLabelRefreshHandler, TrainingCheckpoint
from custom.engines.monitor import EmbeddingMonitor
from custom.engines.pair_augment import PairAugmentation
from custom.engines.precision import MixedPrecision
from custom.engines.soft_label_bank import SoftLabelBank

__all__ = [
    "CoTrainingIteration",
    "EmbeddingMonitor",
    "MixedPrecision",
    "PairAugmentation",
    "ProgressBarHandler",
    "SoftLabelBank",
    "SoftLabelRefreshHandler",
    "TrainingCheckpoint",
]
