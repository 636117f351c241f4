"""The little of torch.distributed the project needs: who is the main process, sharing its work, and gathering
every rank's tensors (with their gradients, for contrastive losses)."""

from __future__ import annotations

import torch
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


def gather_tensors(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor`` (same shape on each), concatenated along dim 0 in rank order, without gradient;
    the tensor itself outside torchrun. For values every rank must hold, as MoCo's queue of keys."""
    if not is_distributed():
        return tensor
    gathered = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, tensor.contiguous())
    return torch.cat(gathered)


class _GatherWithGradient(torch.autograd.Function):
    """``all_gather`` whose backward hands each rank the gradient that every rank's loss gives its own tensor."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> tuple[torch.Tensor, ...]:
        gathered = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, tensor.contiguous())
        return tuple(gathered)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor) -> torch.Tensor:
        summed = torch.stack(grads)
        dist.all_reduce(summed)  # rank r's slot: the sum over ranks of d(loss of that rank) / d(tensor of rank r)
        return summed[dist.get_rank()]


def gather_with_gradient(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor``, concatenated along dim 0 in rank order, through which gradients flow back to the
    rank that computed each part (the tensor itself outside torchrun).

    A contrastive loss needs the other ranks' embeddings as negatives: with a plain ``all_gather`` they would be
    constants, and each rank's embeddings would only be pushed away from their own rank's. DDP then averages
    the gradients over ranks, so ``W`` ranks with batch ``B`` train as one process with batch ``W * B``.
    """
    if not is_distributed():
        return tensor
    return torch.cat(_GatherWithGradient.apply(tensor))
