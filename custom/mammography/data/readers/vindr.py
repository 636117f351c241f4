"""VinDr-Mammo: ``images/<study_id>/<image_id>.dicom`` plus the breast-level and finding CSVs."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.files import resolved
from custom.mammography.data.manifest import manifest_frame
from custom.mammography.data.readers.common import (
    BOX_COLUMNS, add_finding, fit_box, make_finding, parse_birads, parse_density, parse_laterality,
    parse_pathology, parse_view, read_table,
)
from custom.skip_report import SkipReport
from custom.mammography.data.synthetic.vindr import synthetic_version_of

BREAST_CSV = "breast-level_annotations.csv"
FINDING_CSV = "finding_annotations.csv"
BREAST_COLUMNS = ("study_id", "image_id", "laterality", "view_position", "height", "width", "breast_birads",
                  "breast_density", "split")
FINDING_COLUMNS = ("image_id", "finding_categories", "finding_birads") + BOX_COLUMNS
NO_FINDING = "No Finding"
_SPLITS = {"training": "train", "test": "test"}


def read_vindr(root: str | Path, *, report: SkipReport) -> pd.DataFrame:
    """One manifest row per image of ``breast-level_annotations.csv``, findings merged from the finding CSV.

    VinDr-Mammo ships no patient id, so ``study_id`` doubles as ``patient_id``: splits are then disjoint
    by study, which is the best the data allow. Each category of a multi-category finding row becomes
    one finding with the row's box. An image whose finding rows cannot be parsed is skipped whole: a
    lesion silently dropped would turn the image into a false normal. Image sizes for the box check
    come from the CSV's height/width, so no DICOM is opened. A synthetic data set in this layout is named
    ``synthetic-v<version>`` in the ``dataset`` column, so that results say which generator version they
    were measured on.
    """
    root = Path(root)
    version = synthetic_version_of(root)
    dataset = "vindr" if version is None else f"synthetic-v{version}"
    breast_csv, finding_csv = root / BREAST_CSV, root / FINDING_CSV
    breast = read_table(breast_csv, required=BREAST_COLUMNS)
    finding_table = read_table(finding_csv, required=FINDING_COLUMNS)

    images: dict[str, dict] = {}
    shapes: dict[str, tuple[int, int]] = {}
    listed: set[str] = set()
    for index, row in breast.iterrows():
        where = f"row {index + 2}"
        image_id = row["image_id"]
        if image_id in listed:
            report.skip(breast_csv, f"duplicate image: {where} repeats image {image_id}")
            continue
        listed.add(image_id)
        try:
            path = resolved(root / "images" / row["study_id"] / f"{image_id}.dicom")
        except MammogramReadError as error:
            report.skip(error.path, f"{error.problem}: listed in {BREAST_CSV} {where}")
            continue
        if not path.is_file():
            report.skip(path, f"image file missing: listed in {BREAST_CSV} {where}")
            continue
        try:
            if row["split"] not in _SPLITS:
                raise ValueError(f"unknown split {row['split']!r}")
            shapes[image_id] = (int(row["height"]), int(row["width"]))
            images[image_id] = {
                "dataset": dataset, "patient_id": row["study_id"], "study_id": row["study_id"],
                "image_id": image_id, "laterality": parse_laterality(row["laterality"]),
                "view": parse_view(row["view_position"]), "path": str(path), "split": _SPLITS[row["split"]],
                "breast_birads": parse_birads(row["breast_birads"]),
                "breast_density": parse_density(row["breast_density"]), "findings": [],
            }
        except ValueError as error:
            report.skip(breast_csv, f"unparseable row: {where} (image {image_id}): {error}")

    for index, row in finding_table.iterrows():
        where = f"row {index + 2}"
        image_id = row["image_id"]
        if image_id not in images:
            if image_id not in listed:
                report.skip(finding_csv, f"unknown image: {where} names image {image_id}, not in {BREAST_CSV}")
            continue
        try:
            findings = _row_findings(row)
        except ValueError as error:
            report.skip(finding_csv, f"unparseable row: {where} (image {image_id}): {error}; image skipped")
            del images[image_id]
            continue
        if not findings:
            continue
        box = fit_box(findings[0]["box"], shapes[image_id], source=finding_csv,
                      context=f"{where} (image {image_id})", report=report)
        for finding in findings if box is not None else []:
            add_finding(images[image_id]["findings"], {**finding, "box": box}, source=finding_csv,
                        context=f"{where} (image {image_id})", report=report)
    return manifest_frame(list(images.values()))


def _row_findings(row: pd.Series) -> list[dict]:
    """The findings of one finding-CSV row: one per category other than 'No Finding', sharing the box."""
    try:
        categories = ast.literal_eval(row["finding_categories"])
    except (ValueError, SyntaxError):
        categories = None
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise ValueError(f"finding_categories {row['finding_categories']!r} is not a list of names "
                         "such as ['Mass'] or ['No Finding']")
    categories = [c.strip() for c in categories if c.strip() != NO_FINDING]
    if not categories:
        return []
    birads = parse_birads(row["finding_birads"])
    pathology = parse_pathology(row.get("pathology", ""))
    box = [float(row[c]) for c in BOX_COLUMNS]
    return [make_finding(category, birads, pathology, box) for category in categories]
