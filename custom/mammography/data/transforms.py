"""MONAI transforms that load mammograms through ``read_mammogram`` (chest wall left, normalised)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import PostFix, TransformBackends, ensure_tuple, ensure_tuple_rep

from custom.mammography.data.reader import read_mammogram

DEFAULT_POST_FIX = PostFix.meta()  # as MONAI's own dictionary transforms name it


class LoadMammogram(Transform):
    """Array transform: file path -> ``((1, H, W) float32 image, meta dict)``.

    Args:
        spacing: mm per output pixel; takes priority over ``downsample``.
        downsample: output is this many times smaller than the original.
        segment: blank and crop to the breast (see ``read_mammogram``).
        crop: crop to the breast's bounding box.
    """

    backend = [TransformBackends.NUMPY]

    def __init__(
        self,
        spacing: float | None = None,
        downsample: float | None = None,
        segment: bool = True,
        crop: bool = True,
    ) -> None:
        self.spacing = spacing
        self.downsample = downsample
        self.segment = segment
        self.crop = crop

    def __call__(
        self, filename: str | Path, laterality: str | None = None, view: str | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Load ``filename``; ``laterality``/``view`` name what the file does not say (and must agree with what it
        says: a contradiction is a ``MammogramReadError``)."""
        image, meta = read_mammogram(
            filename,
            spacing=self.spacing,
            downsample=self.downsample,
            laterality=laterality,
            view=view,
            segment=self.segment,
            crop=self.crop,
        )
        return image[None], meta


class LoadMammogramd(MapTransform):
    """Dictionary wrapper of :py:class:`LoadMammogram`.

    The ``(1, H, W)`` image replaces the path at each key and the meta goes to ``meta_keys`` or
    ``f"{key}_{meta_key_postfix}"``, as with MONAI's ``LoadImaged``.

    Args:
        keys: keys of the file paths to load.
        spacing: mm per output pixel; takes priority over ``downsample``.
        downsample: output is this many times smaller than the original.
        segment: blank and crop to the breast (see ``read_mammogram``).
        crop: crop to the breast's bounding box.
        meta_keys: explicit keys for the meta dicts, one per key; None uses ``meta_key_postfix``.
        meta_key_postfix: suffix of the meta key, default ``"meta_dict"``.
        laterality_key: key of a known laterality (e.g. a manifest's ``"laterality"`` column) that
            names the breast of files that do not (and must agree with those that do); None: the file decides.
        view_key: likewise for the view.
        allow_missing_keys: don't raise an exception when a key is missing.
    """

    backend = LoadMammogram.backend

    def __init__(
        self,
        keys: KeysCollection,
        spacing: float | None = None,
        downsample: float | None = None,
        segment: bool = True,
        crop: bool = True,
        meta_keys: KeysCollection | None = None,
        meta_key_postfix: str = DEFAULT_POST_FIX,
        laterality_key: Hashable | None = None,
        view_key: Hashable | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadMammogram(spacing, downsample, segment, crop)
        self.meta_keys = ensure_tuple_rep(None, len(self.keys)) if meta_keys is None else ensure_tuple(meta_keys)
        if len(self.meta_keys) != len(self.keys):
            raise ValueError(
                f"meta_keys should have the same length as keys, got {len(self.meta_keys)} and {len(self.keys)}."
            )
        self.meta_key_postfix = meta_key_postfix
        self.laterality_key = laterality_key
        self.view_key = view_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        laterality = d.get(self.laterality_key) if self.laterality_key is not None else None
        view = d.get(self.view_key) if self.view_key is not None else None
        for key, meta_key in self.key_iterator(d, self.meta_keys):
            d[key], meta = self.loader(d[key], laterality, view)
            d[meta_key or f"{key}_{self.meta_key_postfix}"] = meta
        return d
