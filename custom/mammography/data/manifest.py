"""The manifest: one row per image, the one table every later stage reads (docs/architecture.md).

Reading, writing and splitting manifests, and building one from a data set with the reader its layout names
(``custom.mammography.data.readers.registry``). The value parsers every reader shares are in
``custom.mammography.data.readers.common``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from custom.atomic_write import replaced_when_done
from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.readers.common import is_blank
from custom.mammography.data.readers.registry import reader_for
from custom.skip_report import SkipReport

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = [
    "dataset", "patient_id", "study_id", "image_id", "laterality", "view", "path", "split",
    "breast_birads", "breast_density", "findings",
]
SPLITS = ("train", "val", "test")

_ID_COLUMNS = ["dataset", "patient_id", "study_id", "image_id", "laterality", "view", "path"]



# ---- the manifest table ----

def manifest_frame(rows: Iterable[Mapping]) -> pd.DataFrame:
    """A manifest DataFrame with the contract's columns and types from row dicts (findings as lists or JSON)."""
    return _normalise(pd.DataFrame(list(rows), columns=MANIFEST_COLUMNS))


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    out = df.loc[:, MANIFEST_COLUMNS].copy().reset_index(drop=True)
    for column in _ID_COLUMNS:
        out[column] = out[column].astype(str)
    for column in ("split", "breast_density"):
        out[column] = pd.Series([pd.NA if is_blank(v) else str(v) for v in out[column]], dtype=object)
    out["breast_birads"] = pd.array([None if is_blank(v) else int(v) for v in out["breast_birads"]], dtype="Int64")
    out["findings"] = [v if isinstance(v, str) else json.dumps(list(v)) for v in out["findings"]]
    return out


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Reads a manifest CSV written by ``write_manifest``; ids stay strings, empty cells become NA."""
    path = Path(path)
    if not path.is_file():
        raise MammogramReadError(path, "manifest file not found")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise MammogramReadError(path, f"not a manifest: missing columns {missing}")
    return _normalise(df)


def write_manifest(df: pd.DataFrame, path: str | Path) -> None:
    """Writes the manifest as CSV in contract column order; NA cells are written empty. Written whole or not at
    all: an earlier manifest at ``path`` stays intact when the disk is full (``FileWriteError`` naming it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = _normalise(df)
    with replaced_when_done(path) as tmp:
        table.to_csv(tmp, index=False)


def findings_of(row: Mapping) -> list[dict]:
    """The findings of one manifest row (a Series or a dict), parsed from their JSON."""
    return json.loads(row["findings"])


# ---- splits ----

def assign_patient_splits(df: pd.DataFrame, *, seed: int, val_fraction: float, test_fraction: float,
                          keep_existing_test: bool = True) -> pd.DataFrame:
    """Sets ``split`` by patient so that no patient's images are in two splits.

    With ``keep_existing_test``, splits shipped with the data (the readers leave them in ``split``) are
    honoured: shipped test patients stay in test, shipped val patients in val, and val is carved out of
    the shipped training patients; a patient shipped in two splits goes wholly to test, with a warning,
    because test must never share a patient with training. Patients without a shipped split are drawn
    at random. The fractions are of all patients; the draw depends only on ``seed`` and the patient ids.
    """
    if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction < 1):
        raise ValueError(f"need val_fraction, test_fraction >= 0 with a sum below 1, got {val_fraction}, {test_fraction}")
    shipped: dict[str, set[str]] = {}
    for patient, splits in df.groupby("patient_id", sort=True)["split"]:
        shipped[patient] = {str(s) for s in splits if not is_blank(s)} if keep_existing_test else set()
        if not shipped[patient] <= set(SPLITS):
            raise ValueError(f"patient {patient}: unknown split value(s) {sorted(shipped[patient] - set(SPLITS))}")
    assigned: dict[str, str] = {}
    for patient, splits in shipped.items():
        if len(splits) > 1:
            logger.warning("patient %s is shipped in several splits %s: all their images go to test",
                           patient, sorted(splits))
            assigned[patient] = "test"
        elif splits & {"test", "val"}:
            assigned[patient] = next(iter(splits))
    rng = np.random.default_rng(seed)
    n_patients = len(shipped)
    free = _shuffled([p for p, s in shipped.items() if not s], rng)
    n_test = max(0, round(test_fraction * n_patients) - list(assigned.values()).count("test"))
    for patient in free[:n_test]:
        assigned[patient] = "test"
    shipped_train = [p for p, s in shipped.items() if s == {"train"}]
    n_val = max(0, round(val_fraction * n_patients) - list(assigned.values()).count("val"))
    for patient in _shuffled(sorted(free[n_test:] + shipped_train), rng)[:n_val]:
        assigned[patient] = "val"
    out = df.copy()
    out["split"] = pd.Series([assigned.get(p, "train") for p in out["patient_id"]], index=out.index, dtype=object)
    return out


def _shuffled(patients: list, rng: np.random.Generator) -> list:
    return [patients[i] for i in rng.permutation(len(patients))]


# ---- building ----

def build_manifest(fmt: str, root: str | Path, *, seed: int = 0, val_fraction: float = 0.1,
                   test_fraction: float = 0.2, report: SkipReport | None = None) -> pd.DataFrame:
    """Reads a data set in layout ``fmt`` (a name in ``custom.mammography.data.readers.registry.READERS``) and assigns
    patient splits."""
    read = reader_for(fmt)
    report = report if report is not None else SkipReport()
    df = drop_duplicate_ids(read(root, report=report), report)
    if df.empty:
        raise MammogramReadError(root, f"no images found ({fmt} layout; {len(report)} input(s) skipped)")
    df = assign_patient_splits(df, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)
    return _normalise(df.sort_values(["patient_id", "study_id", "image_id"], kind="stable"))


def drop_duplicate_ids(df: pd.DataFrame, report: SkipReport) -> pd.DataFrame:
    """Keeps the first of several files listed under one image id and reports the others: outputs and
    annotations name images by id, so one id must mean one file."""
    first: dict[str, str] = {}
    keep = []
    for row in df.itertuples():
        known = first.setdefault(row.image_id, row.path)
        keep.append(known == row.path)
        if known != row.path:
            report.skip(row.path, f"duplicate image id: {row.image_id!r} is also {known}")
    return df[keep].reset_index(drop=True)


def summarise(df: pd.DataFrame) -> str:
    """Images, patients and studies per split, and findings per category: the look at a new manifest."""
    lines = [f"{len(df)} images, {df['patient_id'].nunique()} patients, {df['study_id'].nunique()} studies"]
    for split in SPLITS:
        part = df[df["split"] == split]
        lines.append(f"  {split:5s}: {len(part)} images, {part['patient_id'].nunique()} patients, "
                     f"{part['study_id'].nunique()} studies")
    categories = pd.Series([f["category"] for _, row in df.iterrows() for f in findings_of(row)], dtype=object)
    lines.append(f"{len(categories)} findings" + (":" if len(categories) else ""))
    lines += [f"  {category}: {count}" for category, count in categories.value_counts().sort_index().items()]
    return "\n".join(lines)
