"""INbreast: ``AllDICOMs/<id>_<hash>_MG_<L|R>_<CC|ML>_ANON.dcm``, OsiriX ROI XML in ``AllXML/<id>.xml``
and the semicolon-separated ``INbreast.csv``."""

from __future__ import annotations

import plistlib
import re
from pathlib import Path
from xml.parsers.expat import ExpatError

import pandas as pd

from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.manifest import manifest_frame
from custom.mammography.data.readers.common import (
    fit_box, image_shape, is_blank, make_finding, parse_birads, parse_density, parse_laterality, parse_view,
    read_table,
)
from custom.skip_report import SkipReport

CSV_NAME = "INbreast.csv"
REQUIRED_COLUMNS = ("Laterality", "View", "File Name", "ACR", "Bi-Rads")
ANONYMISED = {"removed", "anonymized", "anonymised"}  # what the public CSV writes instead of an id
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


def read_inbreast(root: str | Path, *, report: SkipReport) -> pd.DataFrame:
    """One manifest row per CSV row, with the image's ROIs from its XML (no XML: no findings).

    The patient id is the CSV's "Patient ID" when it holds one; the public CSV leaves it empty or writes
    "removed", and then the ``<hash>`` part of the DICOM file name, which INbreast assigns per patient,
    is used. ``study_id`` is the patient id plus the acquisition date, when the CSV gives one.
    Laterality and view come from the CSV, else from the file name; "ML" is INbreast's MLO.
    An image whose XML cannot be parsed is skipped, since its lesions would be lost.
    """
    root = Path(root).resolve()
    csv_path = root / CSV_NAME
    table = read_table(csv_path, required=REQUIRED_COLUMNS, sep=";")
    rows = []
    for index, row in table.iterrows():
        where = f"{CSV_NAME} row {index + 2}"
        file_id = row["File Name"]
        if is_blank(file_id):
            continue  # the public CSV ends in blank separator lines
        matches = sorted((root / "AllDICOMs").glob(f"{file_id}_*.dcm"))
        if not matches:
            report.skip(root / "AllDICOMs" / f"{file_id}_*.dcm", f"image file missing: listed in {where}")
            continue
        path = matches[0]
        name_parts = path.stem.split("_")  # id, hash, MG, side, view, ANON
        try:
            patient = row.get("Patient ID", "")
            patient = name_parts[1] if is_blank(patient) or patient.lower() in ANONYMISED else patient
            date = row.get("Acquisition date", "")
            image = {
                "dataset": "inbreast", "patient_id": patient,
                "study_id": f"{patient}_{date}" if date else patient, "image_id": file_id,
                "laterality": parse_laterality(row["Laterality"] or _name_part(name_parts, 3)),
                "view": parse_view(row["View"] or _name_part(name_parts, 4)), "path": str(path), "split": None,
                "breast_birads": parse_birads(row["Bi-Rads"]), "breast_density": parse_density(row["ACR"]),
            }
        except ValueError as error:
            report.skip(csv_path, f"unparseable row: {where}: {error}")
            continue
        try:
            image["findings"] = _findings(root / "AllXML" / f"{file_id}.xml", path, report)
        except MammogramReadError as error:
            report.skip(error.path, f"{error.problem}: listed in {where}")
            continue
        rows.append(image)
    return manifest_frame(rows)


def _name_part(parts: list[str], index: int) -> str:
    return parts[index] if len(parts) > index else ""


def _findings(xml_path: Path, image_path: Path, report: SkipReport) -> list[dict]:
    """The image's ROIs as findings, boxes = min/max of their pixel points, checked against the DICOM size."""
    if not xml_path.is_file():
        return []
    try:
        with open(xml_path, "rb") as handle:
            plist = plistlib.load(handle)
        rois = [(roi["Name"], _points(roi["Point_px"])) for image in plist["Images"] for roi in image.get("ROIs", [])]
    except (plistlib.InvalidFileException, ExpatError, KeyError, TypeError, ValueError) as error:
        raise MammogramReadError(xml_path, f"unparseable ROI XML: {error!r}") from error
    if not rois:
        return []
    shape = image_shape(image_path)
    findings = []
    for number, (name, points) in enumerate(rois, start=1):
        xs, ys = [x for x, _ in points], [y for _, y in points]
        box = fit_box([min(xs), min(ys), max(xs), max(ys)], shape, source=xml_path,
                      context=f"ROI {number} ({name})", report=report)
        if box is not None:
            findings.append(make_finding(str(name).strip(), None, None, box))
    return findings


def _points(strings: list[str]) -> list[tuple[float, float]]:
    """'(x, y)' strings (OsiriX writes a third coordinate in some files) -> (x, y) pairs."""
    points = []
    for text in strings:
        numbers = _NUMBER.findall(str(text))
        if len(numbers) < 2:
            raise ValueError(f"unparseable point {text!r}")
        points.append((float(numbers[0]), float(numbers[1])))
    if not points:
        raise ValueError("ROI without points")
    return points
