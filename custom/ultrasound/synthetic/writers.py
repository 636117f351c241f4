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

from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
from PIL import Image

from custom.ultrasound.synthetic import breast, heart, lung
from custom.ultrasound.synthetic.bmode import pixel_size_mm
from custom.ultrasound.synthetic.natural import SOURCES, natural_crops
from custom.ultrasound.synthetic.presets import UltrasoundPreset

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


def write_busi(root: Path, preset: UltrasoundPreset, seed: int, tick: Tick) -> None:
    """BUSI: lesions drawn per class, a few benign and malignant images with a second lesion."""
    shape = (preset.size, preset.size)
    for class_index, (label, count) in enumerate(preset.busi.items()):
        folder = root / FOLDERS["busi"] / label
        two = set() if label == "normal" else set(
            np.random.default_rng([seed, 1, class_index]).choice(count, preset.busi_two_lesions, replace=False) + 1)
        for number in range(1, count + 1):
            rng = np.random.default_rng([seed, 1, class_index, number])
            scan = breast.breast_image(rng, shape, label, n_lesions=2 if number in two else 1)
            stem = f"{label} ({number})"
            _png(scan.image, folder / f"{stem}.png", rgb=True)
            masks = scan.masks or (np.zeros(shape, bool),)
            for index, mask in enumerate(masks):
                _mask_png(mask, folder / f"{stem}_mask{f'_{index}' if index else ''}.png")
            tick()


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
