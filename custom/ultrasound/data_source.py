"""Where the ultrasound bundle's images come from: data-set folders in the real layouts, read once into the
ultrasound manifest (cached next to the bundle's outputs), with synthetic data written first when the folder
is empty, so that the bundle runs out of the box as the mammography bundle does."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from custom.ultrasound.manifest import build_us_manifest, read_us_manifest, write_us_manifest

logger = logging.getLogger(__name__)

# where ``synth_us`` puts each layout under its output folder
SYNTHETIC_ROOTS = {"busi": "", "udiat": "UDIAT", "pocus": "POCUS", "camus": "CAMUS", "imagefolder": "natural"}


class UltrasoundDataSource:
    """The rows of one data set (``dataset_format`` under ``dataset_dir``) as MONAI data dictionaries.

    The manifest is built once and written to ``manifest_file``; later runs read it back, so the splits and the
    label-fraction subsets never change under a finished experiment. An empty or missing ``dataset_dir`` gets
    the synthetic data set of ``synthetic_preset`` (``python -m custom synth-us``) first.
    """

    def __init__(self, dataset_dir: str, dataset_format: str = "busi", manifest_file: str | None = None,
                 seed: int = 0, synthetic_preset: str = "default", val_fraction: float = 0.1,
                 test_fraction: float = 0.2):
        self.dataset_dir = Path(dataset_dir)
        self.dataset_format = dataset_format
        self.manifest_file = Path(manifest_file) if manifest_file else None
        self.seed = int(seed)
        self.synthetic_preset = synthetic_preset
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self._manifest: pd.DataFrame | None = None

    @property
    def manifest(self) -> pd.DataFrame:
        if self._manifest is None:
            self._manifest = self._load()
        return self._manifest

    def _load(self) -> pd.DataFrame:
        if self.manifest_file is not None and self.manifest_file.is_file():
            return read_us_manifest(self.manifest_file)
        if not self.dataset_dir.is_dir() or not any(self.dataset_dir.iterdir()):
            from custom.ultrasound.synthetic import synth_us

            logger.info("%s is empty: writing the synthetic ultrasound sets (preset %s) there first",
                        self.dataset_dir, self.synthetic_preset)
            synth_us(self.dataset_dir, seed=self.seed, preset=self.synthetic_preset)
        root = self.dataset_dir / SYNTHETIC_ROOTS.get(self.dataset_format, "")
        if not root.is_dir():
            root = self.dataset_dir
        table = build_us_manifest(self.dataset_format, root, seed=self.seed, val_fraction=self.val_fraction,
                                  test_fraction=self.test_fraction)
        if self.manifest_file is not None:
            write_us_manifest(table, self.manifest_file)
        return table

    def rows(self, split: str, label_fraction: float = 1.0, masks: bool = True) -> list[dict]:
        """The images of ``split`` as ``{"image", "label", "group", "class_name", "image_id"}`` dictionaries.

        ``label_fraction`` keeps that share of the split's groups (patients where known), drawn per class
        from one seeded order, so that smaller fractions are subsets of larger ones and every fraction keeps
        every class. ``masks=False`` leaves out ``label`` (pretraining needs none).
        """
        if not 0 < label_fraction <= 1:
            raise ValueError(f"label_fraction must lie in (0, 1], got {label_fraction}")
        part = self.manifest[self.manifest["split"] == split]
        if part.empty:
            raise ValueError(f"{self.dataset_dir}: no {self.dataset_format} images in the {split!r} split")
        if label_fraction < 1:
            part = part[part["group_id"].isin(label_fraction_groups(part, label_fraction, self.seed))]
        return [
            {"image": row.path, **({"label": row.mask_paths} if masks else {}), "group": row.group_id,
             "class_name": row.class_name, "image_id": row.image_id}
            for row in part.itertuples()
        ]


def label_fraction_groups(part: pd.DataFrame, fraction: float, seed: int) -> set[str]:
    """The groups kept at ``fraction``: per class, the first ``ceil(fraction * n)`` groups of one seeded
    permutation of its sorted groups (nested across fractions; at least one group per class)."""
    kept: set[str] = set()
    for class_name, rows in sorted(part.groupby("class_name"), key=lambda item: item[0]):
        groups = sorted(set(rows["group_id"]))
        order = np.random.default_rng([seed, len(class_name), *class_name.encode()]).permutation(len(groups))
        kept.update(groups[i] for i in order[: max(1, int(np.ceil(fraction * len(groups))))])
    return kept
