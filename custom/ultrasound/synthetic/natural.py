"""Natural images without a download: random crops of the photographs bundled in the scikit-image wheel.

The paper pretrains on natural images as one of its sources; offline, the photographs that ship inside
scikit-image (no pooch download) are the natural-image set, one class per photograph, each class a series
of random square crops (40-100% of the short side), some mirrored, resized to the preset's size.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage import data

SOURCES = {  # class -> loader; every file is inside the wheel (skimage/data/*.png, *.jpg)
    "astronaut": data.astronaut, "cat": data.chelsea, "coffee": data.coffee, "rocket": data.rocket,
    "motorcycle": lambda: data.stereo_motorcycle()[0], "camera": data.camera, "coins": data.coins,
    "clock": data.clock, "brick": data.brick, "grass": data.grass, "gravel": data.gravel, "moon": data.moon,
    "hubble": data.hubble_deep_field, "page": data.page,
}


def natural_crops(rng: np.random.Generator, source: str, count: int, size: int) -> list[np.ndarray]:
    """``count`` RGB uint8 crops of ``size`` x ``size`` pixels from the photograph ``source``."""
    photo = np.asarray(SOURCES[source]())
    if photo.ndim == 2:
        photo = np.repeat(photo[..., None], 3, axis=2)
    height, width = photo.shape[:2]
    crops = []
    for _ in range(count):
        side = int(rng.uniform(0.4, 1.0) * min(height, width))
        top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        crop = photo[top:top + side, left:left + side, :3]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crops.append(np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.BILINEAR)))
    return crops
