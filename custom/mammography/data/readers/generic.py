"""A documented generic CSV layout (docs/data_formats.md)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.files import resolved
from custom.mammography.data.manifest import SPLITS, manifest_frame
from custom.mammography.data.readers.common import (
    NIFTI_SUFFIXES, BOX_COLUMNS, add_finding, fit_box, image_shape, is_blank, make_finding, parse_birads,
    parse_density, parse_laterality, parse_pathology, parse_view, read_table,
)
from custom.mammography.data.reader import identify
from custom.skip_report import SkipReport

DEFAULT_CSV_NAME = "dataset.csv"
REQUIRED_COLUMNS = ("patient_id", "study_id", "path")


def _image_id(path_text: str) -> str:
    name = Path(path_text).name
    for suffix in NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def read_generic_csv(path_or_root: str | Path, *, report: SkipReport) -> pd.DataFrame:
    """Reads the generic CSV (a file, or ``dataset.csv`` inside a folder); one manifest row per image.

    Several rows of one image each add a finding; their image-level values must agree, otherwise the
    image is skipped as ambiguous; an exact repeat of a finding is reported and counted once. The image
    size for the box check comes from optional ``height`` / ``width`` columns, else from the image header
    (DICOM or PNG; NIfTI needs the columns). ``laterality`` / ``view`` are optional: an empty cell (or no
    such column) is read from the file's tags and name, a given one overrides a file that says nothing.
    """
    csv_path = Path(path_or_root)
    if csv_path.is_dir():
        csv_path = csv_path / DEFAULT_CSV_NAME
    table = read_table(csv_path, required=REQUIRED_COLUMNS)
    images: dict[str, dict] = {}
    findings: dict[str, list[dict]] = {}
    broken: set[str] = set()
    for index, row in table.iterrows():
        where = f"row {index + 2}"  # the header is line 1
        path = Path(row["path"])
        path = path if path.is_absolute() else csv_path.parent / path
        try:
            path = resolved(path)
        except MammogramReadError as error:
            report.skip(path, f"{error.problem}: listed in {csv_path.name} {where}")
            continue
        if not path.is_file():
            report.skip(path, f"image file missing: listed in {csv_path.name} {where}")
            continue
        try:
            fields = _image_fields(row, path)
            fields["laterality"], fields["view"] = identify(path, **_given_side_view(row))
            finding = _finding(row)
            size = (int(row["height"]), int(row["width"])) if row.get("height", "") and row.get("width", "") else None
        except ValueError as error:
            report.skip(csv_path, f"unparseable row: {where}: {error}")
            broken.add(str(path))
            continue
        except MammogramReadError as error:
            report.skip(error.path, f"{error.problem}: listed in {csv_path.name} {where}")
            broken.add(str(path))
            continue
        key = str(path)
        if key in images and images[key] != fields:
            report.skip(csv_path, f"conflicting rows: {where} disagrees with an earlier row of {path}")
            broken.add(key)
            continue
        images.setdefault(key, fields)
        if finding is None:
            continue
        try:
            shape = size or image_shape(path)
        except MammogramReadError as error:
            report.skip(path, f"{error.problem}: listed in {csv_path.name} {where}")
            broken.add(key)
            continue
        context = f"{where} ({path.name})"
        box = fit_box(finding["box"], shape, source=csv_path, context=context, report=report)
        if box is not None:
            add_finding(findings.setdefault(key, []), {**finding, "box": box}, source=csv_path, context=context,
                        report=report)
    return manifest_frame(
        {**fields, "findings": findings.get(key, [])} for key, fields in images.items() if key not in broken
    )


def _image_fields(row: pd.Series, path: Path) -> dict:
    """The image-level manifest values of one row; ValueError for a bad one."""
    return {
        "dataset": "generic", "patient_id": _required(row, "patient_id"), "study_id": _required(row, "study_id"),
        "image_id": row.get("image_id", "") or _image_id(row["path"]),
        "path": str(path),
        "split": _split(row.get("split", "")), "breast_birads": parse_birads(row.get("breast_birads", "")),
        "breast_density": parse_density(row.get("breast_density", "")),
    }


def _given_side_view(row: pd.Series) -> dict:
    """The row's laterality/view as ``identify`` overrides: None where the cell is empty or absent."""
    laterality, view = row.get("laterality", ""), row.get("view", "")
    return {"laterality": None if is_blank(laterality) else parse_laterality(laterality),
            "view": None if is_blank(view) else parse_view(view)}


def _required(row: pd.Series, column: str) -> str:
    if is_blank(row[column]):
        raise ValueError(f"empty {column}")
    return row[column]


def _split(value: str) -> str | None:
    if is_blank(value):
        return None
    if value.lower() not in SPLITS:
        raise ValueError(f"unknown split {value!r}; expected one of {SPLITS} or empty")
    return value.lower()


def _finding(row: pd.Series) -> dict | None:
    """The row's finding, or None when it names none; a category needs a full box and vice versa."""
    box_cells = [row.get(c, "") for c in BOX_COLUMNS]
    category = row.get("finding_category", "")
    if is_blank(category):
        if any(box_cells) or row.get("finding_birads", "") or row.get("pathology", ""):
            raise ValueError("finding values without a finding_category")
        return None
    if not all(box_cells):
        raise ValueError(f"finding {category!r} without a complete box {BOX_COLUMNS}")
    return make_finding(category, parse_birads(row.get("finding_birads", "")),
                        parse_pathology(row.get("pathology", "")), [float(v) for v in box_cells])
