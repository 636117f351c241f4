"""Decoding each study's two breasts once into an on-disk cache of aligned contralateral exams.

An *exam* here is one study and one view: the left breast is the reference, the right breast is
warped onto it. Each exam is stored as one ``(4, H, W)`` float16 ``.npy`` stack (reference image,
aligned contralateral image, and their masks) plus a JSON record, so that epochs after the first read
no DICOM and patch sampling can memory-map the arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from custom.data.alignment import AxisAlignedAffine, align_masks, refine_with_intensity
from custom.data.errors import MammogramReadError
from custom.data.geometry import box_original_to_output
from custom.data.manifest import findings_of
from custom.data.reader import read_mammogram
from custom.data.report import SkipReport

CACHE_VERSION = 1
REGISTRATION_MODES = ("mask", "intensity", "none")
REFERENCE_SIDE, MOVING_SIDE = "L", "R"


@dataclass
class ExamRecord:
    """One cached, aligned exam: both breasts of a study in one view, in the reference (left) frame."""

    key: str
    array_path: str
    patient_id: str
    study_id: str
    view: str
    split: str
    shape: tuple[int, int]
    breast_birads: dict[str, int | None]
    findings: list[dict] = field(default_factory=list)  # boxes in the reference frame, with "side"
    geometry: dict[str, dict] = field(default_factory=dict)  # per side: what maps back to the file

    @property
    def is_normal_pair(self) -> bool:
        """Both breasts normal: no finding and breast-level BI-RADS 1-2 (or unknown) on each side."""
        birads_ok = all(b is None or b <= 2 for b in self.breast_birads.values())
        return birads_ok and not self.findings

    def load(self, mmap: bool = True) -> np.ndarray:
        """The ``(4, H, W)`` stack: reference image, aligned contralateral image, reference mask, its mask."""
        return np.load(self.array_path, mmap_mode="r" if mmap else None)


def _cache_key(rows: pd.DataFrame, settings: dict) -> str:
    parts = [json.dumps(settings, sort_keys=True), str(CACHE_VERSION)]
    for path in rows.sort_values("laterality")["path"]:
        stat = os.stat(path)
        parts.append(f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:20]


def _optional_int(value) -> int | None:
    return None if pd.isna(value) or value == "" else int(value)


def _geometry(meta: dict) -> dict:
    return {k: meta[k] for k in ("path", "original_shape", "flipped", "crop_box", "scale")}


def align_breasts(
    reference: np.ndarray, reference_meta: dict, moving: np.ndarray, moving_meta: dict, registration: str
) -> tuple[np.ndarray, AxisAlignedAffine]:
    """Warps the moving (right) breast onto the reference (left) one, as read by ``read_mammogram``.

    Returns the exam's ``(4, H, W)`` float16 stack (reference image, aligned image, reference mask, aligned
    mask) and the affine that maps moving-breast pixels onto the reference frame. Shared by the on-disk cache
    and by detection on image files, so that both see exactly the same exam.
    """
    if registration == "none":
        affine = AxisAlignedAffine(scale=(1.0, 1.0), shift=(0.0, 0.0))
    else:
        affine = align_masks(reference_meta["mask"], moving_meta["mask"])
        if registration == "intensity":
            affine = refine_with_intensity(reference, moving, affine)
    aligned = affine.warp(moving, reference.shape)
    aligned_mask = affine.warp(moving_meta["mask"].astype(np.float32), reference.shape, order=0) > 0.5
    stack = np.stack([reference, aligned, reference_meta["mask"], aligned_mask]).astype(np.float16)
    return stack, affine


def exam_geometry(reference_meta: dict, moving_meta: dict, affine: AxisAlignedAffine) -> dict[str, dict]:
    """Per side, what maps the exam's reference frame back to that side's file (``ExamRecord.geometry``)."""
    return {REFERENCE_SIDE: _geometry(reference_meta),
            MOVING_SIDE: {**_geometry(moving_meta), "affine": asdict(affine)}}


def _build_exam(rows: pd.DataFrame, cache_dir: str, settings: dict) -> dict:
    """Reads, aligns and stores one study-view; returns the record as a dict (picklable for workers)."""
    key = _cache_key(rows, settings)
    record_path = Path(cache_dir) / f"{key}.json"
    array_path = Path(cache_dir) / f"{key}.npy"
    if record_path.exists() and array_path.exists():
        # the array's location is rebuilt here, so a cache stays valid when moved or reached by another path
        return {**json.loads(record_path.read_text()), "array_path": str(array_path)}

    by_side = {row.laterality: row for row in rows.itertuples()}
    reference_row, moving_row = by_side[REFERENCE_SIDE], by_side[MOVING_SIDE]
    read_kwargs = dict(spacing=settings["spacing"], downsample=settings["downsample"])
    reference, reference_meta = read_mammogram(
        reference_row.path, laterality=REFERENCE_SIDE, view=reference_row.view, **read_kwargs
    )
    moving, moving_meta = read_mammogram(moving_row.path, laterality=MOVING_SIDE, view=moving_row.view, **read_kwargs)

    stack, affine = align_breasts(reference, reference_meta, moving, moving_meta, settings["registration"])
    _atomic_save(array_path, stack)

    findings = []
    for side, row, meta in ((REFERENCE_SIDE, reference_row, reference_meta), (MOVING_SIDE, moving_row, moving_meta)):
        for finding in findings_of(row._asdict()):
            box = box_original_to_output(finding["box"], meta)
            if side == MOVING_SIDE:
                box = affine.box_moving_to_reference(box)
            findings.append({**finding, "box": [float(v) for v in box], "side": side})

    record = ExamRecord(
        key=key,
        array_path=str(array_path),
        patient_id=str(reference_row.patient_id),
        study_id=str(reference_row.study_id),
        view=str(reference_row.view),
        split=str(reference_row.split),
        shape=tuple(int(s) for s in reference.shape),
        breast_birads={REFERENCE_SIDE: _optional_int(reference_row.breast_birads),
                       MOVING_SIDE: _optional_int(moving_row.breast_birads)},
        findings=findings,
        geometry=exam_geometry(reference_meta, moving_meta, affine),
    )
    payload = asdict(record)
    _atomic_write_text(record_path, json.dumps(payload))
    return payload


def _atomic_save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, array)
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _study_views(manifest: pd.DataFrame, report: SkipReport) -> list[pd.DataFrame]:
    """Groups the manifest into study-views holding exactly one left and one right image."""
    groups = []
    for (study, view), rows in manifest.groupby(["study_id", "view"], sort=True):
        sides = sorted(rows["laterality"])
        if sides != [REFERENCE_SIDE, MOVING_SIDE]:
            path = rows["path"].iloc[0]
            report.skip(path, f"unpaired study: study {study} view {view} has breasts {sides}, needs one L and one R")
            continue
        groups.append(rows)
    return groups


def prepare_exams(
    manifest: pd.DataFrame,
    cache_dir: str | Path,
    *,
    spacing: float | None = None,
    downsample: float | None = None,
    registration: str = "mask",
    num_workers: int = 0,
    report: SkipReport | None = None,
    progress: bool = True,
) -> list[ExamRecord]:
    """Builds (or reuses) the aligned-exam cache for every study-view of the manifest.

    Unreadable images and single-breast studies are reported and skipped; nothing is fatal unless no
    exam at all can be built.
    """
    if registration not in REGISTRATION_MODES:
        raise ValueError(f"registration must be one of {REGISTRATION_MODES}, got {registration!r}")
    report = report if report is not None else SkipReport()
    cache_dir = Path(cache_dir).resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    settings = {"spacing": spacing, "downsample": downsample, "registration": registration}
    groups = _study_views(manifest, report)

    records: list[ExamRecord] = []
    for rows, outcome in tqdm(
        _build_all(groups, str(cache_dir), settings, num_workers),
        total=len(groups), desc="aligning exams", unit="exam", disable=not progress,
    ):
        if isinstance(outcome, Exception):
            report.skip(rows["path"].iloc[0], f"exam not usable: {outcome}")
        else:
            records.append(_record_from_dict(outcome))
    return records


_EXPECTED_ERRORS = (MammogramReadError, ValueError, OSError)


def _build_all(groups: list[pd.DataFrame], cache_dir: str, settings: dict, num_workers: int):
    """Yields ``(rows, record dict or the expected error)`` per study-view, serially or in worker processes."""
    if num_workers <= 0:
        for rows in groups:
            try:
                yield rows, _build_exam(rows, cache_dir, settings)
            except _EXPECTED_ERRORS as error:
                yield rows, error
        return
    with ProcessPoolExecutor(num_workers) as executor:
        futures = [(rows, executor.submit(_build_exam, rows, cache_dir, settings)) for rows in groups]
        for rows, future in futures:
            try:
                yield rows, future.result()
            except _EXPECTED_ERRORS as error:
                yield rows, error


def _record_from_dict(payload: dict) -> ExamRecord:
    payload = dict(payload)
    payload["shape"] = tuple(payload["shape"])
    return ExamRecord(**payload)
