"""A diagnostic that learns nothing: Otsu's threshold and the largest dark blob, scored like the network.

Each test image is smoothed (Gaussian, 1% of its short side), thresholded at Otsu's level, and the largest
connected dark region inside the field of view is the predicted lesion. A benchmark on which this scores as
well as a trained network would measure little; on real BUSI-like images it should fall well below.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from custom.evaluation.segmentation import SegmentationScores, segmentation_scores, summarise_segmentation
from custom.ultrasound.manifest import mask_list
from custom.ultrasound.readers.loading import load_grey, load_merged_mask


def largest_dark_blob(image: np.ndarray) -> np.ndarray:
    """The largest connected region darker than Otsu's threshold of the smoothed image (black borders outside
    the field of view left out)."""
    smooth = ndimage.gaussian_filter(image.astype(np.float64), max(1.0, 0.01 * min(image.shape)))
    inside = image > 0
    dark = (smooth < threshold_otsu(smooth[inside])) & inside
    labels, count = ndimage.label(dark)
    if count == 0:
        return dark
    sizes = ndimage.sum(dark, labels, index=np.arange(1, count + 1))
    return labels == 1 + int(np.argmax(sizes))


def otsu_baseline(rows: list[dict]) -> dict:
    """Mean Dice and IoU of :func:`largest_dark_blob` over ``rows`` (``UltrasoundDataSource.rows``: image and
    label paths, group), on all images and on those with a lesion, with bootstrap CIs over groups."""
    scored: list[tuple[str, SegmentationScores]] = []
    for row in rows:
        image = load_grey(row["image"])
        truth = load_merged_mask(mask_list(row["label"]), image.shape[:2])
        scored.append((row["group"], segmentation_scores(largest_dark_blob(image), truth)))
    result = {}
    for name, subset in (("all", scored), ("lesion_images", [(g, s) for g, s in scored if s.truth_pixels])):
        summary = summarise_segmentation([s for _, s in subset], [g for g, _ in subset], method="otsu_blob")
        result[name] = {"dice": summary.dice.as_dict(), "iou": summary.iou.as_dict(), "n_images": summary.n_images}
    return result
