"""Reference points for the encoder comparison: raw pixels and a supervised upper bound."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from custom.networks import SiameseEncoder, seeded_encoder


class RawPixelEncoder(nn.Module):
    """The patch itself, average-pooled to ``grid`` x ``grid`` pixels and flattened: what a linear probe
    reaches with no learned features at all."""

    def __init__(self, grid: int = 8) -> None:
        super().__init__()
        if grid < 1:
            raise ValueError(f"grid must be a positive integer, got {grid}")
        self.grid = int(grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(x.float(), self.grid), 1)


class BackboneFeatures(nn.Module):
    """An encoder seen through its pooled backbone features (``SiameseEncoder.features``).

    Self-supervised methods put their loss on a projection head; the features before it are what a linear
    probe should be given, for every method alike.
    """

    def __init__(self, encoder: SiameseEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.features(x)


def train_supervised_encoder(
    dataset: Dataset,
    *,
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> SiameseEncoder:
    """The upper bound: the same encoder trained with the abnormal-vs-normal labels of ``dataset``
    (a :class:`custom.mammography.data.pair_dataset.LabelledPatchDataset` of the training split), random flips and
    90-degree turns as augmentation, class-balanced binary cross-entropy."""
    if len(dataset) == 0:
        raise ValueError("no labelled patches to train the supervised reference on")
    torch.manual_seed(seed)
    encoder = seeded_encoder(seed).to(device)
    head = nn.Linear(encoder.embedding_dim, 1).to(device)
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=learning_rate, weight_decay=1e-4)
    labels = torch.as_tensor([int(dataset[i]["abnormal"]) for i in range(len(dataset))], dtype=torch.float32)
    positive_weight = (labels == 0).sum() / labels.sum().clamp_min(1)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=len(dataset) > batch_size, generator=generator)
    encoder.train()
    for _ in tqdm(range(epochs), desc="supervised reference", unit="epoch", disable=not progress):
        for batch in loader:
            image = batch["image"].to(device)
            turns = int(torch.randint(0, 4, (1,), generator=generator))
            image = torch.rot90(image.flip(-1) if bool(torch.rand(1, generator=generator) < 0.5) else image, turns, (-2, -1))
            target = batch["abnormal"].float().to(device)
            logit = head(encoder(image)).squeeze(1)
            loss = F.binary_cross_entropy_with_logits(logit, target, pos_weight=positive_weight.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return encoder.eval()
