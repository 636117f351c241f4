"""Detection results back in the original images' pixels, written as NIfTI heatmaps, PNG overlays and JSON.

An exam's maps live in its cached reference frame: the left breast's ``read_mammogram`` output (flipped to
chest wall left, cropped, resampled), with the right breast warped onto it by the alignment affine. Every
step is a per-axis affine map of pixel coordinates, so the whole way back to a file is one per-axis affine:

- left breast: undo the resampling, the crop and the flip (``custom.mammography.data.geometry``);
- right breast: first undo the alignment (reference frame -> right breast's own output frame), then the same.

Heatmaps are resampled through that affine (bilinear; 0 outside the exam's frame), boxes and centres are
mapped corner by corner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from custom.mammography.data.alignment import AxisAlignedAffine
from custom.mammography.data.geometry import output_to_original
from custom.mammography.detection.candidates import Candidate
from custom.mammography.detection.detector import SIDES, ExamDetection
from custom.mammography.detection.exams import SingleBreastView
from custom.mammography.detection.overlay import write_overlay
from custom.atomic_write import atomic_write_json, replaced_when_done


def cached_to_original(geometry: dict[str, dict], side: str) -> AxisAlignedAffine:
    """Per-axis affine from pixel indices ``(y, x)`` of the exam's reference frame to the side's original file.

    Used as an ``AxisAlignedAffine`` whose "moving" image is the exam's map and whose "reference" is the
    original image; the x scale is negative when the file was flipped.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    meta = geometry[side]
    probes = np.array([[0.0, 0.0], [1.0, 1.0]])  # (y, x) pixel indices of the reference frame
    if side == "R":
        alignment = AxisAlignedAffine(scale=tuple(meta["affine"]["scale"]), shift=tuple(meta["affine"]["shift"]))
        probes = alignment.reference_to_moving(probes)
    # pixel index i has its centre at the continuous coordinate i + 0.5 (custom.mammography.data.geometry's convention)
    original = output_to_original(probes[:, ::-1] + 0.5, meta)[:, ::-1] - 0.5
    scale, shift = original[1] - original[0], original[0]
    return AxisAlignedAffine(scale=(float(scale[0]), float(scale[1])), shift=(float(shift[0]), float(shift[1])))


def heatmap_to_original(heatmap: np.ndarray, geometry: dict[str, dict], side: str) -> np.ndarray:
    """A reference-frame map of ``side`` resampled onto its original file's pixel grid (float32)."""
    shape = tuple(int(n) for n in geometry[side]["original_shape"])
    return cached_to_original(geometry, side).warp(heatmap, shape, order=1).astype(np.float32)


def points_to_original(
    points_xy: Sequence[Sequence[float]] | np.ndarray, geometry: dict[str, dict], side: str
) -> np.ndarray:
    """``(N, 2)`` continuous ``(x, y)`` points of the reference frame -> the side's original file."""
    xy = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    yx = cached_to_original(geometry, side).moving_to_reference(xy[:, ::-1] - 0.5) + 0.5
    return yx[:, ::-1]


def box_to_original(
    box: Sequence[float], geometry: dict[str, dict], side: str
) -> tuple[float, float, float, float]:
    """A reference-frame ``(xmin, ymin, xmax, ymax)`` box in the side's original pixels (corners re-ordered)."""
    corners = points_to_original([[box[0], box[1]], [box[2], box[3]]], geometry, side)
    low, high = corners.min(axis=0), corners.max(axis=0)
    return float(low[0]), float(low[1]), float(high[0]), float(high[1])


def candidate_to_original(candidate: Candidate, geometry: dict[str, dict]) -> dict:
    """JSON-ready candidate with its box and centre in its breast's original pixels, clipped to the image.

    (The aligned right breast can reach a little past its own image's edge in the reference frame.)
    """
    height, width = geometry[candidate.side]["original_shape"]
    limits = np.array([width, height, width, height], dtype=np.float64)
    box = np.clip(box_to_original(candidate.box, geometry, candidate.side), 0.0, limits)
    centre = np.clip(points_to_original([candidate.centre], geometry, candidate.side)[0], 0.0, limits[:2])
    return {"score": float(candidate.score), "box": [float(v) for v in box], "centre": [float(v) for v in centre]}


def write_nifti(heatmap: np.ndarray, path: str | Path, pixel_spacing: float | None = None) -> Path:
    """2-D NIfTI in the original pixel grid, stored as ``custom.mammography.data.reader`` reads NIfTI (first axis = x)."""
    spacing = float(pixel_spacing) if pixel_spacing else 1.0
    image = nib.Nifti1Image(np.ascontiguousarray(heatmap.T, dtype=np.float32), np.diag([spacing, spacing, 1.0, 1.0]))
    image.header.set_xyzt_units("mm" if pixel_spacing else "unknown")
    path = Path(path)
    with replaced_when_done(path, keep_suffix=True) as tmp:
        nib.save(image, tmp)
    return path


class StudyWriter:
    """Writes a study's detections under ``output_dir/<study_id>/``.

    Per image (breast and view): ``<view>_<side>_heatmap.nii.gz`` (original pixel grid) and
    ``<view>_<side>_overlay.png``; per study: ``detection.json`` with each image's candidates in original
    pixel coordinates, each view's score and the study score (the highest view score), and the views that
    had a single breast with the reason no map was computed.
    """

    def __init__(self, output_dir: str | Path, overlays: bool = True):
        self.output_dir = Path(output_dir)
        self.overlays = overlays

    def __call__(
        self, study_id: str, detections: Iterable[ExamDetection], single_breast: Iterable[SingleBreastView] = (),
        skipped: Iterable[tuple[str, str]] = (),
    ) -> Path:
        """Writes one study; ``skipped``: ``(path, problem)`` of its images that could not be read."""
        folder = self.output_dir / str(study_id)
        folder.mkdir(parents=True, exist_ok=True)
        views = [self._write_view(folder, detection) for detection in detections]
        views += [{"view": item.view, "status": "single breast", "message": item.message,
                   "images": {item.side: {"path": item.path}}} for item in single_breast]
        scores = [view["score"] for view in views if view["status"] == "ok"]
        summary = {"study_id": str(study_id), "score": max(scores) if scores else None,
                   "views": sorted(views, key=lambda view: view["view"]),
                   "unreadable_images": [{"path": path, "problem": problem} for path, problem in skipped]}
        path = folder / "detection.json"
        atomic_write_json(path, summary, indent=1)
        return path

    def _write_view(self, folder: Path, detection: ExamDetection) -> dict:
        images = {}
        for side in SIDES:
            geometry = detection.geometry[side]
            heatmap = heatmap_to_original(detection.heatmaps[side], detection.geometry, side)
            candidates = [candidate_to_original(c, detection.geometry) for c in detection.candidates_of(side)]
            stem = f"{detection.view}_{side}"
            entry = {"path": geometry["path"], "heatmap": write_nifti(heatmap, folder / f"{stem}_heatmap.nii.gz",
                                                                      geometry.get("pixel_spacing")).name}
            if self.overlays:
                title = f"{detection.study_id} {side} {detection.view}: exam score {detection.score:.2f}"
                entry["overlay"] = write_overlay(folder / f"{stem}_overlay.png", heatmap, geometry["path"], side,
                                                 detection.view, candidates, title).name
            entry["candidates"] = [{"rank": rank, **candidate} for rank, candidate in enumerate(candidates, 1)]
            images[side] = entry
        return {"view": detection.view, "status": "ok", "score": float(detection.score), "images": images}
