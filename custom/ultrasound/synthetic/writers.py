"""Files in the layouts the real data sets are distributed in, so that the readers parse synthetic and real
data alike.

- BUSI: ``Dataset_BUSI_with_GT/<class>/<class> (<n>).png`` (RGB with three equal channels, as the real
  files), ``<class> (<n>)_mask.png`` and, for a second lesion, ``_mask_1.png`` (grey, 0/255; all zero for
  normal images); numbered from 1 in each class.
- UDIAT ("Dataset B"): ``UDIAT/original/<nnnnnn>.png`` and ``UDIAT/GT/<nnnnnn>.png`` (grey, masks 0/255).
- POCUS lung: ``POCUS/image/<class>/<Cls>-Synth-<nnn>_frame<k>.png`` (RGB) where ``<Cls>-Synth-<nnn>`` is
  the video, one per patient, and ``k`` the frame's index in it (every stride-th frame); the whole video as
  ``POCUS/video/<class>/<Cls>-Synth-<nnn>.gif`` (Pillow writes GIF; no mp4 encoder is installed).
- CAMUS: ``CAMUS/patient<nnnn>/patient<nnnn>_<2CH|4CH>_<ED|ES>[_gt].nii.gz``: 2-D uint8 NIfTI indexed
  (x, y) = (column, depth) as nibabel reads the real files, spacing in mm in the header; labels 0-3.
- natural: ``natural/<class>/<class>_<nnn>.png`` (RGB).
Each image has its own random stream, ``[seed, set, ...]``, so the same seed writes the same bytes.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
from PIL import Image

from custom.ultrasound.synthetic import breast, heart, lung
from custom.ultrasound.synthetic.bmode import pixel_size_mm
from custom.ultrasound.synthetic.natural import SOURCES, natural_crops
from custom.ultrasound.synthetic.presets import UltrasoundPreset

TRUTH_FOLDER = "Dataset_BUSI_truth"
TRUTH_COLUMNS = ("image_id", "class_name", "height", "width", "pixel_mm", "dynamic_range_db", "calipers", "lesions",
                 "lesion", "kind", "shape", "margin", "parallel", "posterior", "posterior_db", "contrast_db",
                 "heterogeneity", "in_fat", "halo_mm", "transition_mm", "height_mm", "width_mm", "center_row",
                 "center_col")
FOLDERS = {"busi": "Dataset_BUSI_with_GT", "udiat": "UDIAT", "pocus": "POCUS", "camus": "CAMUS", "natural": "natural"}
POCUS_PREFIX = {"covid": "Cov", "pneumonia": "Pneu", "regular": "Reg"}
UDIAT_BENIGN_SHARE = 110 / 163  # the real set: 110 benign, 53 malignant
GIF_FRAME_MS = 100

Tick = Callable[[], None]


def _png(array: np.ndarray, path: Path, rgb: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.repeat(array[..., None], 3, axis=2) if rgb and array.ndim == 2 else array).save(path)


def _mask_png(mask: np.ndarray, path: Path) -> None:
    _png(mask.astype(np.uint8) * 255, path)


def busi_shape(rng: np.random.Generator, sizes: tuple[int, int]) -> tuple[int, int]:
    """A BUSI-like image size within ``sizes`` (pixels): most about 400-550 px high, a few small crops, wider than
    high more often than not, never square."""
    low, high = sizes
    height = rng.uniform(low, 300) if rng.random() < 0.05 else rng.normal(470, 70)
    height = int(np.clip(height, low, high - 40))
    width = int(np.clip(height * rng.uniform(0.95, 1.45), low, high))
    return height, width + 1 if width == height else width


def write_busi(root: Path, preset: UltrasoundPreset, seed: int, tick: Tick, workers: int = 1) -> None:
    """BUSI: lesions drawn per class, a few benign and malignant images with a second lesion; beside the layout,
    ``Dataset_BUSI_truth/`` with what no real set ships: the lesions' exact regions and how each was drawn
    (``lesions.csv``). ``workers`` > 1 draws the images in that many processes (same bytes)."""
    jobs = []
    for class_index, (label, count) in enumerate(preset.busi.items()):
        two = set() if label == "normal" else set(np.random.default_rng([seed, 1, class_index]).choice(
            count, preset.busi_two_lesions[label], replace=False) + 1)
        jobs += [(root, preset, seed, label, class_index, number, number in two) for number in range(1, count + 1)]
    rows = []
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            for result in pool.map(_write_busi_image, jobs, chunksize=4):
                rows += result
                tick()
    else:
        for job in jobs:
            rows += _write_busi_image(job)
            tick()
    truth = root / TRUTH_FOLDER / "lesions.csv"
    truth.parent.mkdir(parents=True, exist_ok=True)
    with open(truth, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TRUTH_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _write_busi_image(job: tuple) -> list[dict]:
    """One BUSI image, its hand-drawn masks and exact regions; its rows of ``lesions.csv``."""
    root, preset, seed, label, class_index, number, two = job
    rng = np.random.default_rng([seed, 1, class_index, number])
    shape = busi_shape(rng, preset.busi_sizes) if preset.busi_sizes else (preset.size, preset.size)
    scan = breast.breast_image(rng, shape, label, n_lesions=2 if two else 1)
    stem = f"{label} ({number})"
    _png(scan.image, root / FOLDERS["busi"] / label / f"{stem}.png", rgb=True)
    for index, mask in enumerate(scan.masks or (np.zeros(shape, bool),)):
        _mask_png(mask, root / FOLDERS["busi"] / label / f"{stem}_mask{f'_{index}' if index else ''}.png")
    for index, mask in enumerate(scan.exact_masks):
        _mask_png(mask, root / TRUTH_FOLDER / "exact_masks" / label / f"{stem}_mask{f'_{index}' if index else ''}.png")
    image = {"image_id": f"{label}/{stem}.png", "class_name": label, "height": shape[0], "width": shape[1],
             "pixel_mm": round(scan.pixel_mm, 5), "dynamic_range_db": round(scan.look.dynamic_range_db, 3),
             "calipers": int(scan.calipers), "lesions": len(scan.lesions)}
    if not scan.lesions:
        return [image]
    return [{**image, "lesion": index, **_plan_columns(plan)} for index, plan in enumerate(scan.lesions)]


def _plan_columns(plan) -> dict:
    values = {name: getattr(plan, name) for name in TRUTH_COLUMNS if hasattr(plan, name)}
    values = {name: round(value, 4) if isinstance(value, float) else int(value) if isinstance(value, bool) else value
              for name, value in values.items()}
    return {**values, "height_mm": round(plan.size_mm[0], 3), "width_mm": round(plan.size_mm[1], 3),
            "center_row": round(plan.center[0], 2), "center_col": round(plan.center[1], 2)}


def write_udiat(root: Path, preset: UltrasoundPreset, seed: int, tick: Tick) -> None:
    """UDIAT: one lesion per image, benign or malignant as in the real set's proportion (not recorded)."""
    for number in range(1, preset.udiat + 1):
        rng = np.random.default_rng([seed, 2, number])
        pathology = "benign" if rng.random() < UDIAT_BENIGN_SHARE else "malignant"
        scan = breast.breast_image(rng, (preset.size, preset.size), pathology)
        _png(scan.image, root / FOLDERS["udiat"] / "original" / f"{number:06d}.png")
        _mask_png(scan.masks[0], root / FOLDERS["udiat"] / "GT" / f"{number:06d}.png")
        tick()


def write_pocus(root: Path, preset: UltrasoundPreset, seed: int, tick: Tick) -> None:
    """POCUS: per class, videos (GIF) and every stride-th of their frames as images."""
    for class_index, label in enumerate(lung.CLASSES):
        for number in range(1, preset.pocus_videos + 1):
            rng = np.random.default_rng([seed, 3, class_index, number])
            frames = lung.lung_video(rng, (preset.size, preset.size), label, preset.pocus_frames)
            name = f"{POCUS_PREFIX[label]}-Synth-{number:03d}"
            for index in range(0, len(frames), preset.pocus_stride):
                _png(frames[index], root / FOLDERS["pocus"] / "image" / label / f"{name}_frame{index}.png", rgb=True)
            video = root / FOLDERS["pocus"] / "video" / label / f"{name}.gif"
            video.parent.mkdir(parents=True, exist_ok=True)
            first, *rest = (Image.fromarray(frame) for frame in frames)
            first.save(video, save_all=True, append_images=rest, duration=GIF_FRAME_MS, loop=0)
            tick()


def write_camus(root: Path, preset: UltrasoundPreset, seed: int, tick: Tick) -> None:
    """CAMUS: per patient, both apical views at ED and ES with their label maps."""
    shape = (preset.size, preset.size)
    spacing = pixel_size_mm(heart.PROBE, shape)
    for number in range(1, preset.camus_patients + 1):
        patient = f"patient{number:04d}"
        folder = root / FOLDERS["camus"] / patient
        folder.mkdir(parents=True, exist_ok=True)
        for view_index, view in enumerate(heart.VIEWS):
            frames = heart.heart_view(np.random.default_rng([seed, 4, number, view_index]), shape, view)
            for phase, (image, labels) in frames.items():
                for suffix, array in (("", image), ("_gt", labels)):
                    volume = nib.Nifti1Image(np.ascontiguousarray(array.T), np.diag([spacing, spacing, 1.0, 1.0]))
                    nib.save(volume, folder / f"{patient}_{view}_{phase}{suffix}.nii.gz")
        tick()


def write_natural(root: Path, preset: UltrasoundPreset, seed: int, tick: Tick) -> None:
    """Natural images: one folder per photograph, crops numbered from 0."""
    for class_index, source in enumerate(list(SOURCES)[:preset.natural_classes]):
        crops = natural_crops(np.random.default_rng([seed, 5, class_index]), source, preset.natural_per_class,
                              preset.size)
        for number, crop in enumerate(crops):
            _png(crop, root / FOLDERS["natural"] / source / f"{source}_{number:03d}.png")
            tick()


WRITERS = {"busi": write_busi, "udiat": write_udiat, "pocus": write_pocus, "camus": write_camus,
           "natural": write_natural}
