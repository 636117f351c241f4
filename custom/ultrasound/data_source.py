"""Where the ultrasound bundle's images come from: data-set folders in the real layouts, read once into the
ultrasound manifest (cached next to the bundle's outputs), with synthetic data written first where the bundle
asked for it (its own default data folder), so that the bundle runs out of the box as the mammography bundle
does. A folder the user names is only read."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from custom.atomic_write import atomic_write_json
from custom.clear_errors import DataSetError
from custom.dataset_identity import DataSetIdentity, identify_data_set
from custom.skip_report import SkipReport
from custom.ultrasound.manifest import build_us_manifest, read_us_manifest, write_us_manifest

logger = logging.getLogger(__name__)

# where ``synth_us`` puts each layout under its output folder
SYNTHETIC_ROOTS = {"busi": "", "udiat": "UDIAT", "pocus": "POCUS", "camus": "CAMUS", "imagefolder": "natural"}


class UltrasoundDataSource:
    """The rows of one data set (``dataset_format`` under ``dataset_dir``) as MONAI data dictionaries.

    The manifest is built once and written to ``manifest_file`` with a record of what it was built from
    (``<name>.source.json``: the folder, layout, seed, split fractions and the data set's fingerprint); later
    runs read it back while that record still holds, so the splits and the label-fraction subsets never change
    under a finished experiment, and rebuild it, saying so, when the folder, the settings or the listed files
    changed: a manifest of another data set is never used. Synthetic data (``synthetic_preset``, as
    ``python -m custom synth-us`` writes it) goes only into ``synthetic_dir`` when that folder is empty or
    missing (None: ``dataset_dir`` itself, for library callers that document it); any other ``dataset_dir`` that
    is missing, empty or not of the layout is a ``DataSetError`` and nothing is written. Files the readers leave
    out are in ``report``.
    """

    def __init__(self, dataset_dir: str, dataset_format: str = "busi", manifest_file: str | None = None,
                 seed: int = 0, synthetic_preset: str = "default", val_fraction: float = 0.1,
                 test_fraction: float = 0.2, synthetic_dir: str | None = None):
        self.dataset_dir = Path(dataset_dir)
        self.dataset_format = dataset_format
        self.manifest_file = Path(manifest_file) if manifest_file else None
        self.seed = int(seed)
        self.synthetic_preset = synthetic_preset
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.synthetic_dir = Path(synthetic_dir) if synthetic_dir is not None else None
        self.report = SkipReport()
        self._manifest: pd.DataFrame | None = None

    @property
    def manifest(self) -> pd.DataFrame:
        if self._manifest is None:
            self._manifest = self._load()
        return self._manifest

    @property
    def identity(self) -> DataSetIdentity:
        """The data set's fingerprint (its images' and masks' paths and sizes, splits and classes), which a
        training run records beside its checkpoints (``custom.run_folder``)."""
        return manifest_identity(self.manifest, self.dataset_dir, self.dataset_format)

    def _load(self) -> pd.DataFrame:
        source = self._source()
        cached = self._cached_manifest(source)
        if cached is not None:
            return cached
        self._ensure_data()
        root = self.dataset_dir / SYNTHETIC_ROOTS.get(self.dataset_format, "")
        if not root.is_dir():
            root = self.dataset_dir
        try:
            table = build_us_manifest(self.dataset_format, root, seed=self.seed, val_fraction=self.val_fraction,
                                      test_fraction=self.test_fraction, report=self.report)
        except FileNotFoundError as error:  # not the layout named, or no usable image in it
            problem = str(error).removeprefix(f"{root.resolve()}: ")  # the readers name the folder first
            raise DataSetError(f"dataset_dir {self.dataset_dir}: {problem}; {self._hint()}") from error
        if self.manifest_file is not None:
            write_us_manifest(table, self.manifest_file)
            atomic_write_json(_source_record(self.manifest_file), {**source, "data_set": manifest_identity(table, self.dataset_dir, self.dataset_format).as_dict()})
        return table

    def _source(self) -> dict:
        """What the manifest depends on besides the files: where, which layout, how it was split."""
        return {"dataset_dir": str(self.dataset_dir.resolve()), "dataset_format": self.dataset_format,
                "seed": self.seed, "val_fraction": self.val_fraction, "test_fraction": self.test_fraction}

    def _cached_manifest(self, source: dict) -> pd.DataFrame | None:
        """The manifest written by an earlier run from this folder with these settings, its files unchanged;
        None (rebuild) otherwise, saying why when there was one."""
        if self.manifest_file is None or not self.manifest_file.is_file():
            return None
        try:
            record = json.loads(_source_record(self.manifest_file).read_text())
            table = read_us_manifest(self.manifest_file)
        except (OSError, ValueError) as error:
            logger.warning("%s: rebuilding it (its source record cannot be read: %s)", self.manifest_file, error)
            return None
        changed = [key for key, value in source.items() if record.get(key) != value]
        identity = manifest_identity(table, self.dataset_dir, self.dataset_format)
        if not changed and record.get("data_set") == identity.as_dict():
            return table
        why = f"it was built with other {', '.join(changed)}" if changed else "files it lists changed"
        logger.warning("%s: rebuilding it for %s: %s", self.manifest_file, self.dataset_dir, why)
        return None

    def _ensure_data(self) -> None:
        """Writes the synthetic sets into an empty or missing folder where asked for; refuses any other."""
        folder = self.dataset_dir
        empty = not folder.is_dir() or not any(folder.iterdir())
        if not empty:
            return
        asked = self.synthetic_dir is None or _same_folder(self.synthetic_dir, folder)
        if not asked:
            problem = ("the folder is empty" if folder.is_dir() else "is a file, not a folder" if folder.exists()
                       else "no such folder")
            raise DataSetError(f"dataset_dir {folder}: {problem}; {self._hint()}")
        from custom.ultrasound.synthetic import synth_us

        logger.info("%s is empty: writing the synthetic ultrasound sets (preset %s) there first", folder,
                    self.synthetic_preset)
        synth_us(folder, seed=self.seed, preset=self.synthetic_preset)

    def _hint(self) -> str:
        return (f"give the folder that holds the {self.dataset_format} data set, or leave dataset_dir unset for the "
                "built-in synthetic data")

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
            raise DataSetError(
                f"{self.dataset_dir}: no {self.dataset_format} images in the {split!r} split ({len(self.manifest)} "
                f"images in all, split with val_fraction={self.val_fraction}, test_fraction={self.test_fraction}); "
                f"{_FILLS[split]}")
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


_FILLS = {"train": "smaller val_fraction and test_fraction leave it images", "val": "a larger val_fraction fills it",
          "test": "a larger test_fraction fills it"}


def manifest_identity(table: pd.DataFrame, folder: Path, fmt: str) -> DataSetIdentity:
    """The identity of the data set an ultrasound manifest lists: its images' and masks' paths and sizes, splits
    and classes."""
    columns = ["path", "mask_paths", "split", "class_name", "group_id"]
    return identify_data_set(folder, fmt, table[columns].astype(str).itertuples(index=False, name=None))


def _source_record(manifest_file: Path) -> Path:
    """``busi_manifest.csv`` -> ``busi_manifest.source.json``: what the cached manifest was built from."""
    return manifest_file.with_name(f"{manifest_file.stem}.source.json")


def _same_folder(a: Path, b: Path) -> bool:
    return os.path.abspath(a) == os.path.abspath(b) or a.resolve() == b.resolve()
