"""A fingerprint of what the ultrasound generator draws, so that a frozen version cannot change unnoticed.

``python -m custom calibrate-us`` stores it in ``docs/calibration_us.json``; a test renders the same few images
and compares. Summary statistics (rounded) rather than a hash of the pixels, so that the last bits of another
FFT or BLAS build do not count as a change while any change to the drawing does.
"""

from __future__ import annotations

import numpy as np

from custom.ultrasound.synthetic.breast import breast_image
from custom.ultrasound.synthetic.heart import heart_view
from custom.ultrasound.synthetic.lung import lung_video
from custom.ultrasound.synthetic.writers import busi_shape

FINGERPRINT_SEED = 0
BREASTS = (("benign", 1), ("malignant", 1), ("normal", 1), ("benign", 2), ("malignant", 1), ("benign", 1))
TOLERANCE = 0.05  # grey levels (0-255) for means and spreads; masks by their pixel counts and boxes
BOX_TOLERANCE = 1.0  # pixels


def _summary(image: np.ndarray, masks: tuple[np.ndarray, ...]) -> list[float]:
    """Mean, standard deviation and 99th percentile of the image; per mask its area and box (up to two)."""
    row = [float(image.mean()), float(image.std()), float(np.percentile(image, 99))]
    for mask in (*masks, *(np.zeros(image.shape, bool),) * 2)[:2]:
        ys, xs = np.nonzero(mask)
        row += [float(mask.sum()), *((float(ys.min()), float(xs.min()), float(ys.max()), float(xs.max()))
                                     if ys.size else (0.0, 0.0, 0.0, 0.0))]
    return [round(value, 3) for value in row]


def generator_fingerprint() -> list[list[float]]:
    """Per rendered image of a fixed tiny set (six BUSI-like breast images at reduced size, one lung frame, one
    heart view): :func:`_summary` of the image and its hand-drawn masks (breast) or labels (heart)."""
    rows = []
    for index, (pathology, lesions) in enumerate(BREASTS):
        rng = np.random.default_rng([FINGERPRINT_SEED, index])
        height, width = busi_shape(rng, (190, 719))
        scan = breast_image(rng, (height // 3, width // 3), pathology, n_lesions=lesions)
        rows.append(_summary(scan.image, scan.masks))
    frame = lung_video(np.random.default_rng([FINGERPRINT_SEED, 100]), (96, 96), "covid", 1)[0]
    rows.append(_summary(frame, ()))
    image, labels = heart_view(np.random.default_rng([FINGERPRINT_SEED, 200]), (96, 96), "4CH")["ED"]
    rows.append(_summary(image, (labels == 1, labels == 2)))
    return rows


def fingerprint_differences(stored: list[list[float]], current: list[list[float]]) -> list[str]:
    """Where two fingerprints differ by more than the tolerance (grey levels by TOLERANCE, mask areas by 1%,
    boxes by one pixel)."""
    if len(stored) != len(current):
        return [f"{len(stored)} images stored, {len(current)} rendered"]
    problems = []
    for index, (a, b) in enumerate(zip(stored, current, strict=True)):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            problems.append(f"image {index}: stored {a.tolist()}, rendered {b.tolist()}")
            continue
        grey = np.abs(a[:3] - b[:3]) > TOLERANCE
        masks = a[3:].reshape(2, 5), b[3:].reshape(2, 5)
        areas = np.abs(masks[0][:, 0] - masks[1][:, 0]) > np.maximum(1.0, 0.01 * masks[0][:, 0])
        boxes = np.abs(masks[0][:, 1:] - masks[1][:, 1:]) > BOX_TOLERANCE
        if grey.any() or areas.any() or boxes.any():
            problems.append(f"image {index}: stored {a.tolist()}, rendered {b.tolist()}")
    return problems
