"""A fingerprint of what the generator draws, so that a frozen benchmark version cannot change unnoticed.

``python -m custom calibrate`` stores it in ``docs/calibration.json``; a test renders the same tiny data set
and compares. Summary statistics (rounded) rather than a hash of the pixels, so that the last bits of a
different FFT or BLAS build do not count as a change while any change to the drawing does.
"""

from __future__ import annotations

import numpy as np

from custom.mammography.data.synthetic.vindr import plan_studies, render_study

FINGERPRINT_STUDIES, FINGERPRINT_SEED = 4, 0
TOLERANCE = 2e-3


def generator_fingerprint() -> list[list[float]]:
    """Per rendered breast of a fixed tiny data set: mean, standard deviation and 99th percentile of the
    image inside the breast, the breast's area share, and its finding box (zeros when it has none)."""
    rows = []
    for plan in plan_studies(FINGERPRINT_STUDIES, FINGERPRINT_SEED, preset="test", finding_fraction=0.5):
        for _, breast in sorted(render_study(plan).items()):
            inside = breast.image[breast.mask]
            box = breast.boxes[0] if breast.boxes else (0.0, 0.0, 0.0, 0.0)
            rows.append([round(float(v), 4) for v in (
                inside.mean(), inside.std(), np.percentile(inside, 99), breast.mask.mean(), *box)])
    return rows


def fingerprint_differences(stored: list[list[float]], current: list[list[float]]) -> list[str]:
    """Where two fingerprints differ by more than the tolerance (boxes by more than one pixel)."""
    if len(stored) != len(current):
        return [f"{len(stored)} breasts stored, {len(current)} rendered"]
    problems = []
    for index, (a, b) in enumerate(zip(stored, current, strict=True)):
        stats = np.abs(np.subtract(a[:4], b[:4])) > TOLERANCE
        boxes = np.abs(np.subtract(a[4:], b[4:])) > 1.0
        if stats.any() or boxes.any():
            problems.append(f"breast {index}: stored {a}, rendered {b}")
    return problems
