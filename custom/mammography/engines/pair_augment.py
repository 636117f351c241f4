"""Random transforms applied identically to both sides of each contralateral pair."""

from __future__ import annotations

import math

import torch


class PairAugmentation:
    """One random dihedral transform (rotation by a multiple of 90 degrees, optional flip) and one gamma
    per pair, applied to both of its patches.

    Pair locations are drawn once and reused every epoch (so soft labels can follow each pair), which lets
    a network memorise individual pairs instead of learning what makes two patches differ. Transforming
    both sides identically keeps the pair's correspondence, and so its label, while each epoch shows it
    differently. Draws come from a generator seeded by ``(seed, step)``: a run resumed at a given
    iteration sees exactly the transforms of an uninterrupted run.

    Args:
        seed: base seed.
        gamma_range: range of the intensity gamma, drawn log-uniformly (1 = unchanged); intensities are
            expected in ``[0, 1]``.
    """

    def __init__(self, seed: int = 0, gamma_range: tuple[float, float] = (0.8, 1.25)) -> None:
        low, high = gamma_range
        if not 0 < low <= high:
            raise ValueError(f"gamma_range must satisfy 0 < low <= high, got {gamma_range}")
        self.seed = int(seed)
        self.log_gamma = (math.log(low), math.log(high))

    def __call__(self, image_a: torch.Tensor, image_b: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Transforms two ``(B, C, P, P)`` batches (side A and side B of the same pairs) alike."""
        if image_a.shape != image_b.shape or image_a.ndim != 4 or image_a.shape[-1] != image_a.shape[-2]:
            raise ValueError(
                f"expected two (B, C, P, P) batches of square patches, got {tuple(image_a.shape)} and {tuple(image_b.shape)}"
            )
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + int(step))
        n = image_a.shape[0]
        turns = torch.randint(0, 4, (n,), generator=generator)
        flips = torch.rand(n, generator=generator) < 0.5
        low, high = self.log_gamma
        gamma = torch.exp(low + (high - low) * torch.rand(n, generator=generator)).view(n, 1, 1, 1)
        both = torch.stack([image_a, image_b])  # (2, B, C, P, P): every op below treats the sides alike
        out = torch.empty_like(both)
        for k in range(4):
            for flip in (False, True):
                chosen = (turns == k) & (flips == flip)
                if chosen.any():
                    part = both[:, chosen]
                    part = torch.flip(part, dims=(-1,)) if flip else part
                    out[:, chosen] = torch.rot90(part, k, dims=(-2, -1))
        out = out.clamp_min(0).pow(gamma.to(out.device, out.dtype))
        return out[0], out[1]
