"""The little of torch.distributed the project needs: who is the main process, and sharing its work."""

from __future__ import annotations

import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main_process() -> bool:
    return not is_distributed() or dist.get_rank() == 0


def broadcast_from_main(obj):
    """Returns the main process's ``obj`` on every rank (a no-op outside torchrun)."""
    if not is_distributed():
        return obj
    payload = [obj]
    dist.broadcast_object_list(payload, src=0)
    return payload[0]


def rank_and_world_size() -> tuple[int, int]:
    """This process's rank and the number of processes (0 and 1 outside torchrun)."""
    return (dist.get_rank(), dist.get_world_size()) if is_distributed() else (0, 1)


def gather_to_all(obj) -> list:
    """Every rank's ``obj``, in rank order, on every rank (``[obj]`` outside torchrun)."""
    if not is_distributed():
        return [obj]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_buffers_from_main(module) -> None:
    """Gives every rank the main process's buffers (batch-norm running statistics): DDP keeps parameters equal
    across ranks, but each rank's last forward pass updates its own running statistics."""
    if is_distributed():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)
