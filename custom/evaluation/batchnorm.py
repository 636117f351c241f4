"""Batch-norm statistics of a frozen encoder re-estimated on the images it will be probed on.

Why: a randomly initialised encoder carries the identity statistics (mean 0, variance 1), a trained one the
running averages of whatever it trained on: augmented views, subtraction-peak patches, the last few hundred
batches of a moving average. A probe on clean patches then sees activations scaled by statistics of other
data, and the comparison of two encoders mixes what they learned with where their statistics came from.
Re-estimating every encoder's statistics on the same clean, unlabelled patches removes that difference; the
weights stay as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from .embedding import as_image_batch

# how the probe treats an encoder's batch-norm statistics: re-estimated on clean patches, or those it carries
BATCHNORM_MODES = ("recalibrated", "running")


def batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The batch-norm layers of ``module`` that keep running statistics."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def recalibrated_batchnorm(
    encoder: nn.Module,
    images: Iterable[Mapping],
    *,
    device: torch.device | str | None = None,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    progress: bool = False,
) -> nn.Module:
    """A copy of ``encoder`` (in eval mode) whose batch-norm running statistics are the plain average over the
    batches of ``images`` (dict batches with ``"image"`` ``(B, 1, P, P)``); ``encoder`` itself is unchanged.

    Every batch counts alike (PyTorch's cumulative average, ``momentum=None``); forward passes run without
    gradients, under ``torch.autocast`` when ``autocast_dtype`` is given, as the embedding will.

    Raises:
        ValueError: ``images`` holds no batch while the encoder has batch-norm layers.
    """
    copied = copy.deepcopy(encoder)
    norms = batch_norms(copied)
    if not norms:
        return copied.eval()
    if device is None:
        device = next(iter(copied.parameters()), torch.empty(0)).device
    device = torch.device(device)
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    copied.train()
    seen = 0
    with torch.no_grad():
        for batch in tqdm(images, desc="batch-norm statistics", disable=not progress):
            image = as_image_batch(batch["image"]).to(device=device, dtype=torch.float32)
            if channels_last:
                image = image.contiguous(memory_format=torch.channels_last)
            autocast = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else torch.autocast(
                device.type, enabled=False)
            with autocast:
                copied(image)
            seen += 1
    if seen == 0:
        raise ValueError("re-estimating batch-norm statistics needs images, and the loader gave none")
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    return copied.eval()
