"""Modality-free training pieces every bundle's engine uses: mixed precision, resuming from MONAI's checkpoints
exactly, a progress bar, the model inside a wrapper. Imports nothing of the mammography packages."""

from custom.atomic_write import atomic_write_bytes, atomic_write_json, replaced_when_done
from custom.training.atomic import atomic_torch_save
from custom.training.checkpoint import TrainerProgress, checkpoint_to_resume
from custom.training.modules import unwrap
from custom.training.precision import MixedPrecision, PrecisionInferer, cpu_supports_bf16
from custom.training.progress import ProgressBarHandler
from custom.training.starting_point import StartingPointDecay

__all__ = [
    "MixedPrecision",
    "PrecisionInferer",
    "ProgressBarHandler",
    "StartingPointDecay",
    "TrainerProgress",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "checkpoint_to_resume",
    "cpu_supports_bf16",
    "replaced_when_done",
    "unwrap",
]
