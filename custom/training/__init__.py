"""Modality-free training pieces every bundle's engine uses: mixed precision, checkpoints that resume exactly,
a progress bar, the model inside a wrapper. Imports nothing of the mammography packages."""

from custom.training.checkpoint import EpochCheckpoint, atomic_torch_save, restore_progress
from custom.training.modules import unwrap
from custom.training.precision import MixedPrecision, cpu_supports_bf16
from custom.training.progress import ProgressBarHandler

__all__ = [
    "EpochCheckpoint",
    "MixedPrecision",
    "ProgressBarHandler",
    "atomic_torch_save",
    "cpu_supports_bf16",
    "restore_progress",
    "unwrap",
]
