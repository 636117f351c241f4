"""Single patches for single-image self-supervised methods, taken from the contralateral pair dataset."""

from __future__ import annotations

from torch.utils.data import Dataset


class SinglePatchDataset(Dataset):
    """Both sides of every pair as separate samples: ``2 N`` patches from ``N`` pairs.

    Single-image methods (SimCLR, MoCo, BYOL, SimSiam, Barlow Twins) thus train on exactly the patches the
    Siamese method sees, without its pairing. Item ``i`` is side ``i % 2`` (0: ``image_a``, 1: ``image_b``)
    of pair ``i // 2``: ``{"image": (C, P, P), "index": i, "pair_index": i // 2, "side": 0 or 1}``.

    Args:
        pair_dataset: any dataset whose items hold ``image_a`` and ``image_b``, such as
            :class:`custom.mammography.data.pair_dataset.ContralateralPairDataset`.
    """

    SIDES = ("image_a", "image_b")

    def __init__(self, pair_dataset: Dataset):
        if len(pair_dataset) == 0:
            raise ValueError("pair_dataset is empty: there are no patches to train on")
        self.pair_dataset = pair_dataset

    def __len__(self) -> int:
        return 2 * len(self.pair_dataset)

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} patches")
        index = index % len(self)
        pair_index, side = divmod(index, 2)
        return {
            "image": self.pair_dataset[pair_index][self.SIDES[side]],
            "index": index,
            "pair_index": pair_index,
            "side": side,
        }
