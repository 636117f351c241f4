"""What every data-set reader shares, in one module: the value parsers (BI-RADS, density, laterality, view,
pathology; ValueError on anything they do not recognise), findings and the box check, so that every layout
maps them the same way; and reading the reader's own files (annotation CSVs, image sizes from headers).
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from PIL import Image

from custom.mammography.data.dicom import read_header
from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.files import checked_file
from custom.skip_report import SkipReport

logger = logging.getLogger(__name__)

BOX_COLUMNS = ("xmin", "ymin", "xmax", "ymax")
_DICOM_SUFFIXES = {".dcm", ".dicom", ""}
NIFTI_SUFFIXES = (".nii.gz", ".nii")
_BIRADS = re.compile(r"^(?:BI-?RADS\s*)?([0-6])\s*[A-C]?$", re.IGNORECASE)
_DENSITY = re.compile(r"^(?:DENSITY\s*)?([A-D1-4])$", re.IGNORECASE)
_LATERALITY = {"L": "L", "LEFT": "L", "R": "R", "RIGHT": "R"}
_VIEW = {"CC": "CC", "MLO": "MLO", "ML": "MLO"}  # INbreast names its MLO views "ML"
_PATHOLOGY = {"MALIGNANT": "malignant", "BENIGN": "benign", "BENIGN_WITHOUT_CALLBACK": "benign"}


def is_blank(value: object) -> bool:
    """Empty cell: None, NaN/NA or whitespace only."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return True
    return isinstance(value, str) and not value.strip()


def parse_birads(value) -> int | None:
    """'BI-RADS 4', '4', '4a'/'4b'/'4c' (INbreast) -> 4; empty -> None."""
    if is_blank(value):
        return None
    match = _BIRADS.match(str(value).strip())
    if match is None:
        raise ValueError(f"unparseable BI-RADS {value!r}")
    return int(match.group(1))


def parse_density(value) -> str | None:
    """'DENSITY C', 'C' or the ACR number '3' -> 'C'; empty -> None."""
    if is_blank(value):
        return None
    match = _DENSITY.match(str(value).strip())
    if match is None:
        raise ValueError(f"unparseable breast density {value!r}")
    code = match.group(1).upper()
    return "ABCD"[int(code) - 1] if code.isdigit() else code


def parse_laterality(value) -> str:
    """'L'/'LEFT' -> 'L', 'R'/'RIGHT' -> 'R'."""
    text = "" if is_blank(value) else str(value).strip().upper()
    if text not in _LATERALITY:
        raise ValueError(f"unknown laterality {value!r}")
    return _LATERALITY[text]


def parse_view(value) -> str:
    """'CC' -> 'CC'; 'MLO' and INbreast's 'ML' -> 'MLO'."""
    text = "" if is_blank(value) else str(value).strip().upper()
    if text not in _VIEW:
        raise ValueError(f"unknown view {value!r}")
    return _VIEW[text]


def parse_pathology(value) -> str | None:
    """CBIS's MALIGNANT / BENIGN / BENIGN_WITHOUT_CALLBACK (any case) -> 'malignant' / 'benign'; empty -> None."""
    if is_blank(value):
        return None
    text = str(value).strip().upper()
    if text not in _PATHOLOGY:
        raise ValueError(f"unknown pathology {value!r}")
    return _PATHOLOGY[text]


def make_finding(category: str, birads: int | None, pathology: str | None, box: Sequence[float]) -> dict:
    """One finding in the manifest's JSON shape (box in original pixels: xmin, ymin, xmax, ymax)."""
    return {"category": category, "birads": birads, "pathology": pathology, "box": [float(v) for v in box]}


def add_finding(findings: list[dict], finding: dict, *, source: str | Path, context: str,
                report: SkipReport) -> None:
    """Appends ``finding`` unless an identical one is there already (reported): an exact repeat of an
    annotation row, from a copy-paste or a merged export, would count one lesion twice."""
    if finding in findings:
        report.skip(source, f"duplicate finding: {context} repeats {finding['category']} at {finding['box']}")
        return
    findings.append(finding)


def fit_box(box: Sequence[float], shape: tuple[int, int], *, source: str | Path, context: str,
            report: SkipReport) -> list[float] | None:
    """The box clipped to an image of ``shape = (H, W)``, or None (reported) when it is unusable.

    A box partly outside is clipped with a warning (annotation tools overshoot the border); one entirely
    outside, not finite, or with min above max belongs to another image or is corrupt, and is skipped.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    height, width = shape
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x0 > x1 or y0 > y1:
        report.skip(source, f"invalid box: {context}: {[x0, y0, x1, y1]} is not finite or has min above max")
        return None
    clipped = [max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))]
    if clipped[0] > clipped[2] or clipped[1] > clipped[3] or clipped[0] >= width or clipped[1] >= height:
        report.skip(source, f"box outside image: {context}: {[x0, y0, x1, y1]} lies outside the {height}x{width} image")
        return None
    if clipped != [x0, y0, x1, y1]:
        logger.warning("%s: %s: box %s partly outside the %dx%d image, clipped to %s",
                       source, context, [x0, y0, x1, y1], height, width, clipped)
    return clipped


def read_table(path: Path, *, required: tuple[str, ...], sep: str = ",") -> pd.DataFrame:
    """A CSV as strings with empty cells as '' (ids such as '00012' must not become numbers).

    A missing or unreadable file, or a missing required column, is fatal: without its table the data set
    cannot be read at all.
    """
    if not path.is_file():
        raise MammogramReadError(path, "annotation file not found")
    try:
        text = _utf8_text(path)
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise MammogramReadError(path, f"unreadable CSV: {error}") from error
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise MammogramReadError(path, f"missing columns {missing}; found {list(table.columns)}")
    return table.apply(lambda column: column.str.strip())


def _utf8_text(path: Path) -> str:
    """The file as UTF-8 text (a byte-order mark is allowed); anything else is named with its line number."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise MammogramReadError(
            path, f"not UTF-8 text: line {line} holds byte 0x{data[error.start]:02x} (saved as Latin-1 or "
                  "Windows-1252?); re-save the CSV as UTF-8"
        ) from None


def image_shape(path: Path) -> tuple[int, int]:
    """(rows, columns) of an image from its header only: DICOM without pixel data, or any PIL format.

    Raises MammogramReadError for an unreadable header, and for NIfTI, whose axis order the header
    alone does not settle.
    """
    if path.name.lower().endswith(NIFTI_SUFFIXES):
        raise MammogramReadError(path, "NIfTI size is not read from the header: give height and width columns")
    if path.suffix.lower() in _DICOM_SUFFIXES:
        header = read_header(path)
        if "Rows" not in header or "Columns" not in header:
            raise MammogramReadError(path, "no image size in the DICOM header (Rows/Columns missing)")
        return int(header.Rows), int(header.Columns)
    checked_file(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            return height, width
    except Exception as error:  # PIL raises many types for a broken header
        raise MammogramReadError(path, f"unreadable image header: {error}") from error
