"""SimCLR and MoCo are the same objective on several ranks as on one process: 2 ranks with batch B give the loss
(and, averaged over the ranks as DDP averages them, the gradients) of one process with batch 2B, and MoCo's
queue holds every rank's keys.

The networks run in eval mode: batch normalisation in train mode normalises each rank's batch by its own
statistics, which no loss can make equal to the whole batch's (that is SyncBatchNorm's business, not the loss's).
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from custom.networks import seeded_encoder
from custom.ssl import MoCo, SimCLR

B, PATCH = 3, 32  # per rank: batch 3 of 32 px patches


def _views(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(2, 2 * B, 1, PATCH, PATCH, generator=generator).unbind(0)


def _method(name: str) -> torch.nn.Module:
    torch.manual_seed(0)  # heads and MoCo's queue: the same on every rank, as set_determinism makes them
    method = (SimCLR(seeded_encoder(0), projection_dim=8, hidden_dim=16, temperature=0.5) if name == "simclr" else
              MoCo(seeded_encoder(0), projection_dim=8, hidden_dim=16, queue_size=20, temperature=0.2))
    return method.eval()


def _steps(method: torch.nn.Module, rows: slice, reduce) -> dict:
    """Two steps of the objective on ``rows`` of each batch: losses, gradients of the projector after the first
    (``reduce`` averages them over ranks, as DDP does), and MoCo's queue after each step."""
    record: dict = {"loss": [], "queue": []}
    for step in range(2):
        view_1, view_2 = _views(step)
        loss = method(view_1[rows], view_2[rows])
        if step == 0:
            loss.backward()
            record["grad"] = [reduce(parameter.grad.clone()) for parameter in method.projector.parameters()]
        record["loss"].append(reduce(loss.detach().clone()))
        method.step_end()
        if isinstance(method, MoCo):
            record["queue"].append(method.queue.clone())
    return record


def _rank(rank: int, name: str, init_file: str, out_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        def mean_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
            dist.all_reduce(tensor)
            return tensor / 2

        torch.save(_steps(_method(name), slice(rank * B, (rank + 1) * B), mean_over_ranks), f"{out_file}.{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", ["simclr", "moco"])
def test_two_ranks_with_batch_b_give_the_loss_of_one_process_with_batch_2b(name, tmp_path, monkeypatch):
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")  # containers whose host name does not resolve
    mp.spawn(_rank, args=(name, str(tmp_path / "init"), str(tmp_path / "steps")), nprocs=2, join=True)
    single = _steps(_method(name), slice(0, 2 * B), lambda tensor: tensor)
    for rank in (0, 1):
        sharded = torch.load(tmp_path / f"steps.{rank}.pt", weights_only=True)
        for step in (0, 1):  # MoCo's second step contrasts with the keys the first one queued, from both ranks
            torch.testing.assert_close(sharded["loss"][step], single["loss"][step], rtol=1e-5, atol=1e-6)
        for sharded_grad, single_grad in zip(sharded["grad"], single["grad"], strict=True):
            torch.testing.assert_close(sharded_grad, single_grad, rtol=1e-4, atol=1e-6)
        for sharded_queue, single_queue in zip(sharded["queue"], single["queue"], strict=True):
            torch.testing.assert_close(sharded_queue, single_queue, rtol=1e-5, atol=1e-6)
    if name == "moco":
        assert len(single["queue"]) == 2 and not torch.equal(single["queue"][0], single["queue"][1])


@pytest.mark.timeout(300)
def test_without_the_gradient_of_other_ranks_negatives_the_check_fails(tmp_path, monkeypatch):
    """The check above can fail: a plain all_gather (other ranks' embeddings as constants) gives each rank the
    right loss but not the gradient of one process with the whole batch."""
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_rank_with_plain_gather, args=(str(tmp_path / "init"), str(tmp_path / "steps")), nprocs=2, join=True)
    single = _steps(_method("simclr"), slice(0, 2 * B), lambda tensor: tensor)
    sharded = torch.load(tmp_path / "steps.0.pt", weights_only=True)
    torch.testing.assert_close(sharded["loss"][0], single["loss"][0], rtol=1e-5, atol=1e-6)
    assert not all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(sharded["grad"], single["grad"]))


def _rank_with_plain_gather(rank: int, init_file: str, out_file: str) -> None:
    import custom.ssl.simclr as simclr
    from custom.distributed import gather_tensors

    simclr.gather_with_gradient = gather_tensors  # spawned processes do not inherit the monkeypatch
    _rank(rank, "simclr", init_file, out_file)
