"""Embedding every training pair with both networks, in batches, without gradients, sharded across ranks."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from custom.distributed import broadcast_buffers_from_main, gather_to_all, is_main_process, rank_and_world_size
from custom.training import MixedPrecision, unwrap


@torch.no_grad()
def pair_distances(
    pair: torch.nn.Module, dataset: Dataset, precision: MixedPrecision, batch_size: int = 256, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Each network's embedding distance for every pair of ``dataset``, in dataset order.

    Under torchrun every rank must call it: each embeds every ``world_size``-th pair with the main process's
    batch-norm statistics and the ranks exchange their distances, so that more processes shorten the
    per-epoch refresh; every rank returns all distances, equal to one process's up to floating-point rounding.
    """
    pair = unwrap(pair)
    broadcast_buffers_from_main(pair)
    rank, world_size = rank_and_world_size()
    indices = np.arange(rank, len(dataset), world_size)
    shard = dataset if world_size == 1 else Subset(dataset, indices.tolist())
    was_training = pair.training
    pair.eval()
    distances_a, distances_b = [], []
    loader = DataLoader(shard, batch_size=batch_size, shuffle=False)
    try:
        for batch in tqdm(loader, desc="embedding pairs", unit="batch", leave=False,
                          disable=not (progress and is_main_process())):
            with precision.autocast():
                out = pair(precision.prepare_input(batch["image_a"]), precision.prepare_input(batch["image_b"]))
            distances_a.append(out["distance_a"].float().cpu())
            distances_b.append(out["distance_b"].float().cpu())
    finally:
        pair.train(was_training)
    shard_a, shard_b = (torch.cat(d).numpy() if d else np.zeros(0, np.float32) for d in (distances_a, distances_b))
    all_a, all_b = np.empty(len(dataset), np.float32), np.empty(len(dataset), np.float32)
    for shard_indices, a, b in gather_to_all((indices, shard_a, shard_b)):
        all_a[shard_indices], all_b[shard_indices] = a, b
    return all_a, all_b
