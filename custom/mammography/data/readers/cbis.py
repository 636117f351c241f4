"""CBIS-DDSM: four case-description CSVs (mass/calc x train/test) and DICOM folders named in them.

The CSVs name files as ``<folder>/<study uid>/<series uid>/000000.dcm``, but real downloads (NBIA Data
Retriever) store them under other trailing folder and file names (``07-20-2016-DDSM-74994/1.000000-full
mammogram images-24515/1-1.dcm``), and inside a ``CBIS-DDSM/`` folder. A path is therefore tried as written
first, then resolved to the first ``.dcm`` (sorted) anywhere under ``root/<folder>/`` or
``root/CBIS-DDSM/<folder>/``. ROI masks and crops live in the sibling ``<folder>_1``, never searched for images.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom

from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.files import resolved
from custom.mammography.data.manifest import manifest_frame
from custom.mammography.data.readers.common import (
    add_finding, fit_box, image_shape, make_finding, parse_birads, parse_density, parse_laterality,
    parse_pathology, parse_view, read_table,
)
from custom.skip_report import SkipReport

logger = logging.getLogger(__name__)

CSV_FILES = {
    "mass_case_description_train_set.csv": "train",
    "mass_case_description_test_set.csv": "test",
    "calc_case_description_train_set.csv": "train",
    "calc_case_description_test_set.csv": "test",
}
REQUIRED_COLUMNS = ("patient_id", "left or right breast", "image view", "abnormality type", "assessment",
                    "pathology", "image file path", "cropped image file path", "ROI mask file path")
DENSITY_COLUMNS = ("breast_density", "breast density")  # mass files use the first, calc files the second
CATEGORIES = {"mass": "Mass", "calcification": "Calcification"}
DOWNLOAD_FOLDER = "CBIS-DDSM"  # where the NBIA Data Retriever puts the image folders


def read_cbis(root: str | Path, *, report: SkipReport) -> pd.DataFrame:
    """One manifest row per breast image, with one finding per abnormality row and its box from the ROI mask.

    CBIS has no study uid in its CSVs and one exam per patient, so ``study_id = patient_id``. A case with
    masses and calcifications lists the same breast image in the mass and the calc CSVs (under two
    folders); those rows are merged by (patient, side, view) into one image row, kept under the first
    folder read (mass before calc, train before test), so that each breast view appears once. Its split
    is test when any of its rows comes from a test CSV. Any abnormality that cannot be read (missing
    image, no usable mask, unparseable value) skips the whole image, since dropping a lesion would leave
    a false normal.
    """
    root = resolved(root)
    images: dict[tuple[str, str, str], dict] = {}
    broken: set[tuple[str, str, str]] = set()
    shapes: dict[Path, tuple[int, int]] = {}
    for csv_name, split in CSV_FILES.items():
        csv_path = root / csv_name
        table = read_table(csv_path, required=REQUIRED_COLUMNS)
        density_column = next((c for c in DENSITY_COLUMNS if c in table.columns), None)
        if density_column is None:
            raise MammogramReadError(csv_path, f"missing column {DENSITY_COLUMNS[0]!r} or {DENSITY_COLUMNS[1]!r}")
        for index, row in table.iterrows():
            where = f"{csv_name} row {index + 2}"
            try:
                key = (row["patient_id"], parse_laterality(row["left or right breast"]), parse_view(row["image view"]))
            except ValueError as error:
                report.skip(csv_path, f"unparseable row: {where}: {error}")
                continue
            if key in broken:
                continue
            try:
                image = _read_row(root, row, key, split, density_column, shapes,
                                  source=csv_path, where=where, report=report)
            except ValueError as error:
                report.skip(csv_path, f"unparseable row: {where}: {error}; image skipped")
                broken.add(key)
            except MammogramReadError as error:
                report.skip(error.path, f"{error.problem}: listed in {where}")
                broken.add(key)
            else:
                if key not in images:
                    images[key] = image
                elif not _merge(images[key], image, shapes, where=where, report=report):
                    broken.add(key)
    return manifest_frame([image for key, image in images.items() if key not in broken])


def _read_row(root: Path, row: pd.Series, key: tuple[str, str, str], split: str, density_column: str,
              shapes: dict[Path, tuple[int, int]], *, source: Path, where: str, report: SkipReport) -> dict:
    """One abnormality row as an image row with that one finding.

    Raises ValueError for a bad value and MammogramReadError for a missing or unusable file.
    """
    density = parse_density(row[density_column])
    category = CATEGORIES.get(row["abnormality type"].lower())
    if category is None:
        raise ValueError(f"unknown abnormality type {row['abnormality type']!r}")
    birads, pathology = parse_birads(row["assessment"]), parse_pathology(row["pathology"])
    relative = _clean(row["image file path"])
    path = _resolve(root, relative)
    if path is None:
        raise MammogramReadError(root / relative, "image file missing")
    shape = shapes[path] = shapes.get(path) or image_shape(path)
    box = fit_box(_mask_box(root, row, shape), shape, source=source, context=where, report=report)
    return {
        "dataset": "cbis", "patient_id": key[0], "study_id": key[0], "image_id": relative.split("/")[0],
        "laterality": key[1], "view": key[2], "path": str(path), "split": split, "breast_birads": None,
        "breast_density": density, "findings": [make_finding(category, birads, pathology, box)] if box else [],
    }


def _merge(kept: dict, other: dict, shapes: dict[Path, tuple[int, int]], *, where: str, report: SkipReport) -> bool:
    """Adds another listing of the same breast image to the kept one; False (reported) if they cannot be one."""
    kept_shape, other_shape = shapes[Path(kept["path"])], shapes[Path(other["path"])]
    if kept_shape != other_shape:
        report.skip(other["path"], f"conflicting rows: {where} lists a {other_shape} image where "
                                   f"{kept['path']} is {kept_shape}")
        return False
    if kept["breast_density"] != other["breast_density"]:
        logger.warning("%s: density %s differs from %s for the same image in another row; kept %s",
                       where, other["breast_density"], kept["breast_density"], kept["breast_density"])
    kept["split"] = "test" if "test" in (kept["split"], other["split"]) else kept["split"]
    for finding in other["findings"]:
        add_finding(kept["findings"], finding, source=other["path"], context=where, report=report)
    return True


def _clean(relative: str) -> str:
    """CSV paths carry stray newlines, quotes and, from Windows tools, backslashes."""
    return relative.strip().strip('"').replace("\\", "/").strip("/")


def _resolve(root: Path, relative: str) -> Path | None:
    """The file as written, else the first .dcm under its top folder (see the module docstring)."""
    return next(iter(_candidates(root, relative)), None)


def _candidates(root: Path, relative: str) -> list[Path]:
    if not relative:
        return []
    written = root / relative
    found = []
    for base in (root, root / DOWNLOAD_FOLDER):
        folder = base / relative.split("/")[0]
        found += sorted(folder.rglob("*.dcm")) if folder.is_dir() else []
    return ([written] if written.is_file() else []) + [p for p in found if p != written]


def _mask_box(root: Path, row: pd.Series, shape: tuple[int, int]) -> list[float]:
    """Bounding box (xmin, ymin, xmax, ymax; max exclusive) of the ROI mask, scaled to the image's shape.

    CBIS sometimes swaps the ROI mask and the cropped lesion image, so every file of both entries is
    tried, and the first one whose pixels are binary (0 and one other value) is taken as the mask.
    """
    tried: list[str] = []
    for column in ("ROI mask file path", "cropped image file path"):
        for candidate in _candidates(root, _clean(row[column])):
            if str(candidate) in tried:
                continue
            tried.append(str(candidate))
            mask = _binary_pixels(candidate)
            if mask is None:
                continue
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            scale_y, scale_x = shape[0] / mask.shape[0], shape[1] / mask.shape[1]
            return [cols[0] * scale_x, rows[0] * scale_y, (cols[-1] + 1) * scale_x, (rows[-1] + 1) * scale_y]
    raise MammogramReadError(root / _clean(row["ROI mask file path"]),
                             f"no usable ROI mask: none of {tried or 'no files'} is a binary, non-empty mask")


def _binary_pixels(path: Path) -> np.ndarray | None:
    """The nonzero pixels of a mask file as booleans, or None for a non-mask (grey levels, empty, unreadable)."""
    try:
        pixels = pydicom.dcmread(path).pixel_array
    except Exception as error:  # a broken candidate is one more file to try past, not a fatal error
        logger.warning("%s: cannot decode as ROI mask candidate: %s", path, error)
        return None
    if pixels.ndim != 2:
        return None
    nonzero = pixels != 0
    if not nonzero.any() or np.any(pixels[nonzero] != pixels.max()):
        return None
    return nonzero
