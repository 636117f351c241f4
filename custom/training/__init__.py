"""Modality-free training pieces every bundle's engine uses: mixed precision, checkpoints that resume exactly,
a progress bar, the model inside a wrapper. Imports nothing of the mammography packages."""

from custom.atomic_write import atomic_write_bytes, atomic_write_json, replaced_when_done
from custom.training.atomic import atomic_torch_save
from custom.training.checkpoint import EpochCheckpoint, restore_progress
from custom.training.modules import unwrap
from custom.training.precision import MixedPrecision, PrecisionInferer, cpu_supports_bf16
from custom.training.progress import ProgressBarHandler

__all__ = [
    "EpochCheckpoint",
    "MixedPrecision",
    "PrecisionInferer",
    "ProgressBarHandler",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "cpu_supports_bf16",
    "replaced_when_done",
    "restore_progress",
    "unwrap",
]
