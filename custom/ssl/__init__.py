"""Self-supervised baselines sharing the Siamese method's encoder, patches, optimiser and seed.

SimCLR, MoCo v2, BYOL, SimSiam and Barlow Twins, each an ``SSLMethod`` with ``forward(view_1, view_2) ->
loss`` and an ``encoder`` attribute; the two-view augmentation; the training iteration for a MONAI
``SupervisedTrainer`` (checkpoints: MONAI's ``CheckpointSaver`` and ``CheckpointLoader``). A pretraining run
is the bundle's ``train_ssl.json`` with a ``train_<method>.json`` overlay, under ``ConfigWorkflow``
(``python -m monai.bundle run`` or the comparison).
"""

from custom.ssl.augment import AUGMENTATIONS, TwoViewAugment, two_view_augment
from custom.ssl.barlow import BarlowTwins
from custom.ssl.base import SSLMethod
from custom.ssl.byol import BYOL, normalized_mse
from custom.ssl.dataset import SinglePatchDataset
from custom.ssl.engine import SSLIteration
from custom.ssl.moco import MoCo, info_nce_loss
from custom.ssl.registry import SSL_METHODS, accepted_options, build_ssl_method, check_ssl_method
from custom.ssl.simclr import SimCLR, nt_xent_loss
from custom.ssl.simsiam import SimSiam, negative_cosine

__all__ = [
    "AUGMENTATIONS",
    "BYOL",
    "BarlowTwins",
    "MoCo",
    "SSLIteration",
    "SSLMethod",
    "SSL_METHODS",
    "SimCLR",
    "SimSiam",
    "SinglePatchDataset",
    "TwoViewAugment",
    "build_ssl_method",
    "check_ssl_method",
    "info_nce_loss",
    "accepted_options",
    "negative_cosine",
    "nt_xent_loss",
    "normalized_mse",
    "two_view_augment",
]
