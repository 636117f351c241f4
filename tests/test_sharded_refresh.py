"""The per-epoch re-embedding is sharded across torchrun ranks and gives what one process computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import Dataset

from custom.mammography.engines.embedding import pair_distances
from custom.training.precision import MixedPrecision
from custom.labelling import GMMSoftLabeller
from custom.networks import CoTrainedSiamesePair

PAIRS = 13  # not a multiple of the two ranks: the shards differ in size


class RandomPairs(Dataset):
    def __init__(self, count: int):
        generator = torch.Generator().manual_seed(0)
        self.a = torch.rand(count, 1, 32, 32, generator=generator)
        self.b = torch.rand(count, 1, 32, 32, generator=generator)

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, index: int) -> dict:
        return {"image_a": self.a[index], "image_b": self.b[index]}


def _pair() -> CoTrainedSiamesePair:
    return CoTrainedSiamesePair(seeds=(0, 1), normalize=True)


def _rank(rank: int, init_file: str, out_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        pair = _pair()
        if rank == 1:  # a rank whose last forward pass moved its batch-norm statistics
            pair.net_a.backbone.bn1.running_mean += 5.0
        a, b = pair_distances(pair, RandomPairs(PAIRS), MixedPrecision("cpu", enabled=False), batch_size=4,
                              progress=False)
        np.save(f"{out_file}.{rank}.npy", np.stack([a, b]))
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_two_ranks_share_the_embedding_and_get_one_process_distances_and_soft_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")  # containers whose host name does not resolve
    mp.spawn(_rank, args=(str(tmp_path / "init"), str(tmp_path / "distances")), nprocs=2, join=True)
    single = np.stack(pair_distances(_pair(), RandomPairs(PAIRS), MixedPrecision("cpu", enabled=False), batch_size=4,
                                     progress=False))
    for rank in (0, 1):
        sharded = np.load(tmp_path / f"distances.{rank}.npy")
        assert sharded.shape == (2, PAIRS)
        np.testing.assert_allclose(sharded, single, rtol=1e-5, atol=1e-6)
        for network in (0, 1):
            np.testing.assert_allclose(GMMSoftLabeller().fit(sharded[network]).predict_proba(sharded[network]),
                                       GMMSoftLabeller().fit(single[network]).predict_proba(single[network]),
                                       atol=1e-5)
