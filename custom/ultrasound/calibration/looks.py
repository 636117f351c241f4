"""The look of the synthetic breast set in numbers, each against what real series report.

Measured on the written files (the images, the hand-drawn masks of the BUSI layout and the exact regions in
``Dataset_BUSI_truth/``), with ``lesions.csv`` for what no image can say (pixel size, dynamic range, the kind
and margin each lesion was drawn with):

- **echogenicity**: mean grey level inside the lesion (0.5 mm in from its margin) minus a ring 1-3 mm outside
  it, in dB of echo (grey levels times the image's dynamic range over 255);
- **posterior feature**: grey level under the central half of the lesion (1 mm below it, half its height or
  3 mm deep) against the same depths 2 mm beside it, in dB: enhancement above +3 dB, shadowing below -3 dB,
  none between; lesions with no room below are left out;
- **orientation and size**: taller than wide when the exact region's height exceeds its width; widths in mm;
- **masks**: Dice between the hand-drawn mask and the exact region, and the mean distance between their
  outlines in per cent of the lesion's diameter;
- **margins, shapes, lesions in fat, calipers**: the shares the generator drew.

Every share comes with a 95% bootstrap interval over images.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from custom.evaluation.metrics import MetricResult, mean_with_ci

POSTERIOR_THRESHOLD_DB = 3.0
ISO_DB = 6.0  # "iso- to mildly hypoechoic": within this many dB of the surroundings
BUSI_FOLDER, TRUTH_FOLDER = "Dataset_BUSI_with_GT", "Dataset_BUSI_truth"


def read_truth(root: Path) -> list[dict]:
    """``lesions.csv`` of a synthetic BUSI set: one row per lesion (one per normal image), typed."""
    path = root / TRUTH_FOLDER / "lesions.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; the look statistics need a synthetic BUSI set written by "
                                "synth-us, whose Dataset_BUSI_truth/ says how each lesion was drawn")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    numbers = ("height", "width", "pixel_mm", "dynamic_range_db", "calipers", "lesions", "posterior_db",
               "contrast_db", "heterogeneity", "in_fat", "halo_mm", "transition_mm", "height_mm", "width_mm",
               "parallel", "lesion")
    for row in rows:
        for name in numbers:
            row[name] = float(row[name]) if row.get(name, "") != "" else None
    return rows


def _mask_path(root: Path, folder: str, image_id: str, index: int) -> Path:
    stem = image_id[:-len(".png")]
    return root / folder / f"{stem}_mask{f'_{index}' if index else ''}.png"


def _grey(path: Path) -> np.ndarray:
    image = np.asarray(Image.open(path))
    return (image[..., 0] if image.ndim == 3 else image).astype(np.float64)


def measure_lesion(image: np.ndarray, exact: np.ndarray, drawn: np.ndarray, others: np.ndarray, pixel_mm: float,
                   dynamic_range_db: float) -> dict:
    """The measurements of one lesion (module docstring) from its image, exact region, hand-drawn mask and the
    other lesions' regions."""
    to_db = dynamic_range_db / 255
    mm = 1 / pixel_mm
    usable = (image < 255) & ~others  # calipers are burned in at 255
    inside = ndimage.binary_erosion(exact, iterations=max(1, round(0.5 * mm)))
    inside = inside if inside.any() else exact
    ring = ndimage.binary_dilation(exact, iterations=round(3 * mm)) & \
        ~ndimage.binary_dilation(exact, iterations=max(1, round(1 * mm))) & usable
    rows, cols = np.nonzero(exact)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    height, width = bottom - top + 1, right - left + 1
    return {
        "contrast_db": (image[inside].mean() - image[ring].mean()) * to_db if ring.any() else float("nan"),
        "posterior_db": _posterior_db(image, usable, (top, bottom, left, right), mm) * to_db,
        "taller_than_wide": float(height > width),
        "width_mm": width * pixel_mm,
        "height_mm": height * pixel_mm,
        "mask_dice": 2 * (exact & drawn).sum() / (exact.sum() + drawn.sum()),
        "outline_offset_percent": _outline_offset(exact, drawn),
    }


def _posterior_db(image: np.ndarray, usable: np.ndarray, extent: tuple[int, int, int, int], mm: float) -> float:
    """Grey level below the lesion's central half minus beside it at the same depths (NaN: no room below)."""
    top, bottom, left, right = extent
    width = right - left + 1
    start = bottom + 1 + round(mm)
    rows = slice(start, min(image.shape[0], start + max(round(3 * mm), (bottom - top + 1) // 2)))
    if rows.stop - rows.start < max(2, round(mm)):
        return float("nan")
    below = np.zeros(image.shape, bool)
    below[rows, left + width // 4:right - width // 4 + 1] = True
    beside = np.zeros(image.shape, bool)
    gap, side = round(2 * mm), max(width // 4, 2)
    beside[rows, max(0, left - gap - side):max(0, left - gap)] = True
    beside[rows, right + gap + 1:right + gap + 1 + side] = True
    below, beside = below & usable & (image > 0), beside & usable & (image > 0)
    if below.sum() < 4 or beside.sum() < 4:
        return float("nan")
    return float(image[below].mean() - image[beside].mean())


def _outline_offset(exact: np.ndarray, drawn: np.ndarray) -> float:
    """Mean distance (pixels) from the hand-drawn outline to the exact one, in per cent of the exact region's
    equivalent diameter."""
    outline = drawn & ~ndimage.binary_erosion(drawn)
    distance = ndimage.distance_transform_edt(~(exact & ~ndimage.binary_erosion(exact)))
    diameter = 2 * np.sqrt(exact.sum() / np.pi)
    return float(100 * distance[outline].mean() / diameter) if outline.any() else float("nan")


def measure_set(root: str | Path) -> list[dict]:
    """Every lesion of a synthetic BUSI set (``root`` holds ``Dataset_BUSI_with_GT`` and ``Dataset_BUSI_truth``)
    with its truth row and its measurements."""
    root = Path(root)
    lesions = []
    by_image: dict[str, list[dict]] = {}
    for row in read_truth(root):
        if row["lesion"] is not None:
            by_image.setdefault(row["image_id"], []).append(row)
    for image_id, rows in sorted(by_image.items()):
        image = _grey(root / BUSI_FOLDER / image_id)
        exact = [_grey(_mask_path(root, f"{TRUTH_FOLDER}/exact_masks", image_id, int(r["lesion"]))) > 0 for r in rows]
        drawn = [_grey(_mask_path(root, BUSI_FOLDER, image_id, int(r["lesion"]))) > 0 for r in rows]
        for index, row in enumerate(rows):
            others = np.zeros(image.shape, bool)
            for other, mask in enumerate(exact):
                if other != index:
                    others |= ndimage.binary_dilation(mask, iterations=3)
            lesions.append({**row, **measure_lesion(image, exact[index], drawn[index], others, row["pixel_mm"],
                                                    row["dynamic_range_db"])})
    return lesions


def posterior_class(posterior_db: float) -> str | None:
    if not np.isfinite(posterior_db):
        return None
    if posterior_db > POSTERIOR_THRESHOLD_DB:
        return "enhancement"
    return "shadowing" if posterior_db < -POSTERIOR_THRESHOLD_DB else "none"


NOT_MEASURED = {"value": None, "ci_low": None, "ci_high": None, "n": 0}  # a set with no lesion of that kind


def _share(rows: list[dict], test, seed: int = 0) -> dict:
    """Share of ``rows`` for which ``test(row)`` holds, with a bootstrap CI over images."""
    if not rows:
        return dict(NOT_MEASURED)
    values = np.array([float(test(row)) for row in rows])
    return _as_dict(mean_with_ci(values, [row["image_id"] for row in rows], seed=seed))


def _median(values: np.ndarray, groups: list[str], n_bootstrap: int = 1000, seed: int = 0) -> dict:
    """Median with a percentile bootstrap CI over images."""
    if not values.size:
        return dict(NOT_MEASURED)
    groups = np.asarray(groups)
    unique, codes = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(seed)
    members = [np.nonzero(codes == k)[0] for k in range(unique.size)]
    replicates = [np.median(values[np.concatenate([members[k] for k in rng.integers(0, unique.size, unique.size)])])
                  for _ in range(n_bootstrap)]
    low, high = np.quantile(replicates, [0.025, 0.975])
    return {"value": float(np.median(values)), "ci_low": float(low), "ci_high": float(high), "n": int(values.size)}


def _mean(rows: list[dict], key: str) -> dict:
    """Mean of ``key`` over ``rows`` with a bootstrap CI over images."""
    if not rows:
        return dict(NOT_MEASURED)
    return _as_dict(mean_with_ci([r[key] for r in rows], [r["image_id"] for r in rows]))


def _as_dict(result: MetricResult) -> dict:
    return {"value": result.value, "ci_low": result.ci_low, "ci_high": result.ci_high, "n": result.n}


def look_figures(lesions: list[dict], images: list[dict]) -> dict[str, dict]:
    """The look statistics of the calibration (``calibration_us.json``), each a value with its CI and count.

    ``lesions``: :func:`measure_set`'s rows; ``images``: one truth row per image (class, lesions, calipers)."""
    malignant = [r for r in lesions if r["kind"] == "malignant"]
    solid_benign = [r for r in lesions if r["kind"] == "solid benign"]
    cysts = [r for r in lesions if r["kind"] == "cyst"]
    solid = malignant + solid_benign
    contrasted = [r for r in solid if np.isfinite(r["contrast_db"])]  # a ring of tissue around them to compare with

    def measured(rows):
        return [r for r in rows if posterior_class(r["posterior_db"]) is not None]

    def posterior(name):
        return lambda r: posterior_class(r["posterior_db"]) == name

    benign_images = [r for r in images if r["class_name"] == "benign"]
    malignant_images = [r for r in images if r["class_name"] == "malignant"]
    return {
        "malignant_spiculated_fraction": _share(malignant, lambda r: r["margin"] == "spiculated"),
        "malignant_not_circumscribed_fraction": _share(malignant, lambda r: r["margin"] != "circumscribed"),
        "malignant_taller_than_wide_fraction": _share(malignant, lambda r: r["taller_than_wide"]),
        "benign_circumscribed_fraction": _share(solid_benign, lambda r: r["margin"] == "circumscribed"),
        "benign_taller_than_wide_fraction": _share(solid_benign, lambda r: r["taller_than_wide"]),
        "indistinct_margin_fraction": _share(solid, lambda r: r["margin"] == "indistinct"),
        "malignant_shadowing_fraction": _share(measured(malignant), posterior("shadowing")),
        "malignant_no_posterior_fraction": _share(measured(malignant), posterior("none")),
        "malignant_enhancement_fraction": _share(measured(malignant), posterior("enhancement")),
        "benign_no_posterior_fraction": _share(measured(solid_benign), posterior("none")),
        "cyst_enhancement_fraction": _share(measured(cysts), posterior("enhancement")),
        "iso_mildly_hypoechoic_fraction": _share(contrasted, lambda r: r["contrast_db"] > -ISO_DB),
        "lesions_in_fat_fraction": _share(lesions, lambda r: r["in_fat"]),
        "malignant_median_width_mm": _median(np.array([r["width_mm"] for r in malignant]),
                                             [r["image_id"] for r in malignant]),
        "benign_median_width_mm": _median(np.array([r["width_mm"] for r in solid_benign + cysts]),
                                          [r["image_id"] for r in solid_benign + cysts]),
        "benign_two_lesion_fraction": _share(benign_images, lambda r: r["lesions"] > 1),
        "malignant_two_lesion_fraction": _share(malignant_images, lambda r: r["lesions"] > 1),
        "caliper_fraction": _share(images, lambda r: r["calipers"]),
        "mask_outline_offset_percent": _mean(lesions, "outline_offset_percent"),
        "mask_dice_to_exact": _mean(lesions, "mask_dice"),
        "solid_contrast_db_median": _median(np.array([r["contrast_db"] for r in contrasted]),
                                            [r["image_id"] for r in contrasted]),
    }


def image_rows(truth: list[dict]) -> list[dict]:
    """One truth row per image."""
    return list({row["image_id"]: row for row in truth}.values())
