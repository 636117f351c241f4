"""Training engine of the co-trained Siamese networks: iteration, soft labels and their refresh, the embedding
monitor, pair augmentation. The modality-free pieces it builds on are in ``custom.training``; checkpoints are
MONAI's ``CheckpointSaver`` and ``CheckpointLoader``."""

from custom.mammography.engines.cotraining import CoTrainingIteration
from custom.mammography.engines.coteaching import CoTeachingSelection, pair_selection
from custom.mammography.engines.fixed_labels import FixedPairLabels
from custom.mammography.engines.handlers import SoftLabelRefreshHandler
from custom.mammography.engines.monitor import EmbeddingMonitor
from custom.mammography.engines.pair_augment import PairAugmentation
from custom.mammography.engines.regulariser import PairRegulariser
from custom.mammography.engines.soft_label_bank import SoftLabelBank

__all__ = [
    "CoTeachingSelection",
    "CoTrainingIteration",
    "EmbeddingMonitor",
    "FixedPairLabels",
    "PairAugmentation",
    "PairRegulariser",
    "SoftLabelBank",
    "SoftLabelRefreshHandler",
    "pair_selection",
]
