"""Embedding every training pair with both networks, in batches, without gradients."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from custom.engines.precision import MixedPrecision


def unwrap(network: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper, or the module itself."""
    return getattr(network, "module", network)


@torch.no_grad()
def pair_distances(
    pair: torch.nn.Module, dataset: Dataset, precision: MixedPrecision, batch_size: int = 256, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Each network's embedding distance for every pair of ``dataset``, in dataset order."""
    pair = unwrap(pair)
    was_training = pair.training
    pair.eval()
    distances_a, distances_b = [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    try:
        for batch in tqdm(loader, desc="embedding pairs", unit="batch", leave=False, disable=not progress):
            with precision.autocast():
                out = pair(precision.prepare_input(batch["image_a"]), precision.prepare_input(batch["image_b"]))
            distances_a.append(out["distance_a"].float().cpu())
            distances_b.append(out["distance_b"].float().cpu())
    finally:
        pair.train(was_training)
    return torch.cat(distances_a).numpy(), torch.cat(distances_b).numpy()
