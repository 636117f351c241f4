"""Images of other organs (and natural images) as the single-image batches the core's self-supervised
methods train on (every image grey, resized once, held in memory), and the network part they pretrain."""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from custom.dataset_identity import DataSetIdentity, identify_data_set
from custom.networks import seeded_encoder, seeded_segmentation_backbone
from custom.skip_report import SkipReport

from custom.ultrasound.data_source import UltrasoundDataSource
from custom.ultrasound.readers.loading import load_grey

logger = logging.getLogger(__name__)

BREAST_SOURCES = ("busi", "udiat")
# what pretraining trains: the segmentation network's encoder alone, or its encoder and decoder (the paper's two
# variants); fine-tuning starts the rest at random
PRETRAINED_PARTS = ("encoder", "encoder_decoder")


def pretraining_network(part: str = "encoder", seed: int = 0) -> nn.Module:
    """The network a self-supervised method pretrains, seeded: FlexibleUNet's ResNet-18 encoder
    (``SiameseEncoder(backbone="resnet18_features")``) for ``"encoder"``, its encoder and decoder
    (``SegmentationBackbone``) for ``"encoder_decoder"``.

    Raises:
        ValueError: ``part`` is not one of :data:`PRETRAINED_PARTS`.
    """
    if part == "encoder":
        return seeded_encoder(seed, backbone="resnet18_features")
    if part == "encoder_decoder":
        return seeded_segmentation_backbone(seed)
    raise ValueError(f"pretrained_part must be one of {PRETRAINED_PARTS}, got {part!r}")


class PretrainingImages(Dataset):
    """``{"image": (1, size, size) float32 in [0, 1], "index": i}`` for each image of ``rows`` (dictionaries
    with an ``"image"`` path, as ``UltrasoundDataSource.rows`` gives them; several sources concatenated).

    An image that cannot be read is reported (in ``report``), skipped and counted; none readable is an error.
    """

    def __init__(self, rows: list[dict], size: int = 128, report: SkipReport | None = None):
        report = report if report is not None else SkipReport()
        images = []
        for row in tqdm(rows, desc="loading pretraining images", unit="image", leave=False):
            try:
                images.append(_resized(load_grey(row["image"]), size))
            except (OSError, ValueError) as error:
                report.skip(row["image"], f"unreadable image: {error}")
        if not images:
            raise ValueError(f"none of the {len(rows)} pretraining images could be read")
        self.images = torch.from_numpy(np.stack(images))[:, None]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.images[index], "index": index}


def source_rows(dataset_dir: str, sources: list[str], manifest_dir: str, seed: int = 0,
                preset: str = "default", synthetic_dir: str | None = None,
                report: SkipReport | None = None) -> list[dict]:
    """The images of every layout in ``sources`` under ``dataset_dir`` (each read with its own manifest, cached
    in ``manifest_dir``). Other organs' and natural images are used whole; the breast sets (busi, udiat) only
    their training split, so that no image the segmentation is evaluated on is seen in pretraining.
    ``synthetic_dir``, ``preset``: where synthetic data may be written, as for ``UltrasoundDataSource``; the
    files the readers leave out join ``report``."""
    rows = []
    for source in sources:
        data = UltrasoundDataSource(dataset_dir, source, manifest_file=f"{manifest_dir}/{source}_manifest.csv",
                                    seed=seed, synthetic_preset=preset, synthetic_dir=synthetic_dir)
        splits = ("train",) if source in BREAST_SOURCES else ("train", "val", "test")
        for split in splits:
            if (data.manifest["split"] == split).any():
                rows += data.rows(split, masks=False)
        if report is not None:
            report.extend(data.report)
        logger.info("pretraining source %s: %d images so far", source, len(rows))
    return rows


def pretraining_identity(dataset_dir: str, sources: list[str], rows: list[dict]) -> DataSetIdentity:
    """The identity of the images a pretraining run trains on (all ``sources`` together), which it records
    beside its checkpoint (``custom.run_folder``)."""
    return identify_data_set(dataset_dir, "+".join(sources), [(row["image"],) for row in rows])


def _resized(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` (H, W, stored grey levels) min-max scaled to [0, 1], as ``ScaleIntensityd`` does for the
    segmentation images, and resized to (size, size), area-averaged."""
    tensor = torch.from_numpy(np.asarray(image, dtype=np.float32))[None, None]
    low, span = float(tensor.min()), float(tensor.max() - tensor.min())
    tensor = (tensor - low) / span if span > 0 else tensor - low
    return torch.nn.functional.interpolate(tensor, size=(size, size), mode="area")[0, 0].numpy()
