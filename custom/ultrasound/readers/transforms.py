"""MONAI dictionary transforms that load an ultrasound manifest row: the grey image and its merged mask."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform

from custom.ultrasound.manifest import mask_list
from custom.ultrasound.readers.loading import load_grey, load_merged_mask


class LoadUltrasoundd(MapTransform):
    """Puts the grey image at each key's path there as a (1, H, W) float32 array of its stored levels
    (``load_grey``: RGB that is grey in fact becomes one channel, a colour image is converted with a warning)."""

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = load_grey(d[key])[None]
        return d


class LoadMergedMaskd(MapTransform):
    """Puts at each key the masks it lists (a manifest's ``;``-joined ``mask_paths``, or a list of paths) merged
    into one binary (1, H, W) float32 mask (``load_merged_mask``): BUSI stores a second lesion as a second mask.
    An image without masks gets an empty mask the size of the image at ``image_key``, which must be loaded
    first (``LoadUltrasoundd``)."""

    def __init__(self, keys: KeysCollection, image_key: str = "image", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.image_key = image_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        image = d.get(self.image_key)
        if isinstance(image, (str, Path)):
            raise ValueError(f"{image}: load {self.image_key!r} before its mask (LoadUltrasoundd first)")
        shape = None if image is None else np.shape(image)[-2:]
        for key in self.key_iterator(d):
            d[key] = load_merged_mask(mask_list(d[key]), shape)[None].astype(np.float32)
        return d
