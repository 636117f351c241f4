"""Decoding each study's two breasts once into an on-disk cache of aligned contralateral exams.

An *exam* here is one study and one view: the left breast is the reference, the right breast is
warped onto it. Each exam is stored as one ``(4, H, W)`` float16 ``.npy`` stack (reference image,
aligned contralateral image, and their masks) plus a JSON record, so that epochs after the first read
no DICOM and patch sampling can memory-map the arrays.

The record holds the array's SHA-256: a damaged array (a crash, a full disk, a bad copy) is detected
when the cache is next used and rebuilt. Files are written under temporary names and renamed, and each
exam is built under a lock file (``<key>.lock``), so two runs preparing one cache folder at once never
leave a torn file and build each exam once.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from custom.mammography.data.alignment import AxisAlignedAffine, align_masks, refine_with_intensity
from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.files import file_sha256
from custom.mammography.data.geometry import box_original_to_output
from custom.mammography.data.manifest import findings_of
from custom.mammography.data.parallel import map_reporting
from custom.mammography.data.reader import identify, read_mammogram
from custom.mammography.data.spacing import assumed_spacing_warning
from custom.skip_report import SkipReport
from custom.atomic_write import atomic_write_bytes

logger = logging.getLogger(__name__)
CACHE_VERSION = 2  # 2: records carry the array's SHA-256
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
    geometry = {k: meta[k] for k in ("path", "original_shape", "flipped", "crop_box", "scale")}
    if meta.get("assumed_pixel_spacing") is not None:  # the file stated none: which spacing it was read at, and why
        geometry["assumed_pixel_spacing"] = meta["assumed_pixel_spacing"]
        geometry["spacing_source"] = meta["spacing_source"]
    return geometry


def spacing_assumptions(geometries: list[dict[str, dict]]) -> list[tuple[float, str]]:
    """``(spacing, source)`` of every image of these exams (their ``geometry``) read at an assumed spacing."""
    return [(side["assumed_pixel_spacing"], side["spacing_source"]) for geometry in geometries
            for side in geometry.values() if side.get("assumed_pixel_spacing") is not None]


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
    """Reads, aligns and stores one study-view, or reuses its intact cache; returns the record as a dict."""
    key = _cache_key(rows, settings)
    record_path = Path(cache_dir) / f"{key}.json"
    array_path = Path(cache_dir) / f"{key}.npy"
    with _exam_lock(Path(cache_dir) / f"{key}.lock"):
        cached = _intact_record(record_path, array_path)
        if cached is not None:
            return cached
        payload = _aligned_exam(rows, key, array_path, settings)
        _atomic_write(record_path, json.dumps(payload).encode())
    return payload


def _aligned_exam(rows: pd.DataFrame, key: str, array_path: Path, settings: dict) -> dict:
    by_side = {row.laterality: row for row in rows.itertuples()}
    reference_row, moving_row = by_side[REFERENCE_SIDE], by_side[MOVING_SIDE]
    read_kwargs = dict(spacing=settings["spacing"], downsample=settings["downsample"],
                       assumed_spacing=settings.get("assumed_spacing"))
    reference, reference_meta = read_mammogram(
        reference_row.path, laterality=REFERENCE_SIDE, view=reference_row.view, **read_kwargs
    )
    moving, moving_meta = read_mammogram(moving_row.path, laterality=MOVING_SIDE, view=moving_row.view, **read_kwargs)

    stack, affine = align_breasts(reference, reference_meta, moving, moving_meta, settings["registration"])
    checksum = _atomic_write(array_path, _npy_bytes(stack))

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
    return {**asdict(record), "sha256": checksum}


def _intact_record(record_path: Path, array_path: Path) -> dict | None:
    """The cached record when it and its array are intact; None (with a warning if damaged) to rebuild."""
    if not (record_path.exists() and array_path.exists()):
        return None
    try:
        payload = json.loads(record_path.read_text())
        intact = payload["sha256"] == file_sha256(array_path)
    except (OSError, ValueError, KeyError, TypeError) as error:  # unreadable, invalid JSON, foreign record
        logger.warning("%s: damaged cache record (%s); rebuilding the exam", record_path, error)
        return None
    if not intact:
        logger.warning("%s: damaged cache file (checksum mismatch); rebuilding the exam", array_path)
        return None
    # the array's location is rebuilt here, so a cache stays valid when moved or reached by another path
    return {**payload, "array_path": str(array_path)}


@contextmanager
def _exam_lock(path: Path):
    """Holds an exclusive lock on ``path`` (created if needed): one process builds an exam, others wait."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _atomic_write(path: Path, data: bytes) -> str:
    """Writes ``data`` under a temporary name, then renames it to ``path``; returns its SHA-256.

    A failed write (a full disk) removes the partial file and names the cache file and the problem.
    """
    try:
        atomic_write_bytes(path, data)
    except OSError as error:
        raise MammogramReadError(
            path, f"cannot write the cache file ({error.strerror or error}); free space there or set cache_dir"
        ) from None
    return hashlib.sha256(data).hexdigest()


def _study_views(manifest: pd.DataFrame, report: SkipReport) -> list[pd.DataFrame]:
    """Groups the manifest into study-views holding exactly one left and one right image."""
    groups = []
    for (study, view), rows in manifest.groupby(["study_id", "view"], sort=True):
        sides = sorted(rows["laterality"])
        if sides != [REFERENCE_SIDE, MOVING_SIDE]:
            conflicts = _laterality_conflicts(rows)
            for path, problem in conflicts:  # an annotation that contradicts the file is why it looks unpaired
                report.skip(path, f"exam not usable: {problem} (study {study}, view {view})")
            if not conflicts:
                files = "; ".join(f"{side}: {Path(path).name}" for side, path in zip(rows["laterality"], rows["path"], strict=True))
                report.skip(rows["path"].iloc[0], f"unpaired study: study {study} view {view} has breasts {sides} "
                                                  f"({files}), needs one L and one R")
            continue
        groups.append(rows)
    return groups


def _laterality_conflicts(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """(path, problem) of each image of an unpaired study-view whose file contradicts the laterality the
    annotations give it (its header only is read)."""
    conflicts = []
    for row in rows.itertuples():
        try:
            identify(row.path, laterality=row.laterality)
        except MammogramReadError as error:
            if "laterality" in error.problem:
                conflicts.append((error.path, error.problem))
    return conflicts


def prepare_exams(
    manifest: pd.DataFrame,
    cache_dir: str | Path,
    *,
    spacing: float | None = None,
    downsample: float | None = None,
    assumed_spacing: float | None = None,
    registration: str = "mask",
    num_workers: int = 0,
    report: SkipReport | None = None,
    progress: bool = True,
    shard: tuple[int, int] = (0, 1),
) -> list[ExamRecord]:
    """Builds (or reuses) the aligned-exam cache for every study-view of the manifest.

    Unreadable images and single-breast studies are reported and skipped; nothing is fatal unless no
    exam at all can be built. Images that state no pixel spacing are read at ``assumed_spacing`` or their
    archive's (``read_mammogram``), and one warning names the spacing assumed and how to override it.

    ``shard=(index, count)``: only the ``index``-th of ``count`` consecutive blocks of study-views is built or
    reused, so that ``count`` processes (torchrun ranks) share the work on one cache folder; their records,
    concatenated in shard order, are the records of one unsharded call, and the files the same, byte for byte
    (:meth:`custom.mammography.data.source.MammoDataSource.exams` does this). Study-views without two breasts are
    reported by shard 0 alone; the spacing warning is left to the caller, who sees every shard's records.
    """
    if registration not in REGISTRATION_MODES:
        raise ValueError(f"registration must be one of {REGISTRATION_MODES}, got {registration!r}")
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"shard must be (index, count) with 0 <= index < count, got {shard}")
    report = report if report is not None else SkipReport()
    cache_dir = Path(cache_dir).resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    settings = {"spacing": spacing, "downsample": downsample, "registration": registration}
    if assumed_spacing is not None:  # only then: caches built before the option existed keep their keys
        settings["assumed_spacing"] = float(assumed_spacing)
    groups = _study_views(manifest, report if index == 0 else SkipReport())
    groups = groups[len(groups) * index // count: len(groups) * (index + 1) // count]

    records: list[ExamRecord] = []
    for rows, outcome in tqdm(
        map_reporting(_build_exam, groups, num_workers, str(cache_dir), settings),
        total=len(groups), desc="aligning exams", unit="exam", disable=not progress,
    ):
        if isinstance(outcome, Exception):
            exam = f"study {rows['study_id'].iloc[0]}, view {rows['view'].iloc[0]}"
            culprit = getattr(outcome, "path", rows["path"].iloc[0])  # the file at fault, not the exam's first
            report.skip(culprit, f"exam not usable: {getattr(outcome, 'problem', outcome)} ({exam})")
        else:
            records.append(_record_from_dict(outcome))
    warning = assumed_spacing_warning(spacing_assumptions([record.geometry for record in records]))
    if warning and count == 1:
        logger.warning("%s", warning)
    return records


def _record_from_dict(payload: dict) -> ExamRecord:
    payload = dict(payload)
    payload.pop("sha256")
    payload["shape"] = tuple(payload["shape"])
    return ExamRecord(**payload)
