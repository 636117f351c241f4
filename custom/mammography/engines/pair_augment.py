"""Random MONAI transforms applied identically to both sides of each contralateral pair."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from monai.data import get_track_meta, set_track_meta
from monai.transforms import Randomizable
from monai.utils import convert_to_tensor

PAIR_KEY = "pair"


class PairAugmentation:
    """Applies a MONAI dictionary transform to each pair of a batch, both sides alike.

    Pair locations are drawn once and reused every epoch (so soft labels can follow each pair), which lets
    a network memorise individual pairs instead of learning what makes two patches differ. Transforming
    both sides identically keeps the pair's correspondence, and so its label, while each epoch shows it
    differently.

    Each pair is handed to ``transform`` as one image under the key ``"pair"``, side A's channels followed
    by side B's, so every MONAI transform treats the two sides as one: a geometric transform moves both,
    and an intensity transform that reads the image's statistics (``RandAdjustContrastd`` rescales by the
    minimum and maximum) maps both with the same curve. The transform list lives in the bundle config
    (``train#pair_transforms``). Its random state is set from ``(seed, step)`` before each batch, so a run
    resumed at a given iteration sees exactly the transforms of an uninterrupted run.

    Args:
        transform: a MONAI dictionary transform (usually a ``Compose``) on the key ``"pair"`` that keeps
            the image's shape.
        seed: base seed.
    """

    def __init__(self, transform: Callable[[dict], dict], seed: int = 0) -> None:
        if not callable(transform):
            raise TypeError(f"transform must be a MONAI dictionary transform, got {type(transform).__name__}")
        self.transform = transform
        self.seed = int(seed)

    def __call__(self, image_a: torch.Tensor, image_b: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Transforms two ``(B, C, P, P)`` batches (side A and side B of the same pairs) alike."""
        if image_a.shape != image_b.shape or image_a.ndim != 4 or image_a.shape[-1] != image_a.shape[-2]:
            raise ValueError(
                f"expected two (B, C, P, P) batches of square patches, got {tuple(image_a.shape)} and {tuple(image_b.shape)}"
            )
        if isinstance(self.transform, Randomizable):
            self.transform.set_random_state(seed=self._step_seed(step))
        channels = image_a.shape[1]
        out_a, out_b = torch.empty_like(image_a), torch.empty_like(image_b)
        tracking = get_track_meta()
        set_track_meta(False)  # plain tensors: MONAI's metadata costs more than the transforms on small patches
        try:
            for i in range(image_a.shape[0]):
                pair = torch.cat([image_a[i], image_b[i]])
                out = convert_to_tensor(self.transform({PAIR_KEY: pair})[PAIR_KEY], track_meta=False)
                if out.shape != pair.shape:
                    raise ValueError(
                        f"the pair transforms must keep the pair's shape {tuple(pair.shape)}, got {tuple(out.shape)}"
                    )
                out_a[i], out_b[i] = out[:channels], out[channels:]
        finally:
            set_track_meta(tracking)
        return out_a, out_b

    def _step_seed(self, step: int) -> int:
        return int(np.random.SeedSequence([self.seed, int(step)]).generate_state(1)[0])
