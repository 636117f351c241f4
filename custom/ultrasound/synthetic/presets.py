"""How much each preset of ``synth_us`` writes: "test" a handful of small images per set in seconds,
"default" a small set that a CPU can pretrain and fine-tune on, "benchmark" a BUSI-sized breast set (the frozen
benchmark's, ``benchmark.py``) beside the default preset's other sets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UltrasoundPreset:
    """Counts and image sizes (pixels) of every set one preset writes."""

    size: int  # square images of every set, and of BUSI unless busi_sizes says otherwise
    busi: dict[str, int]  # images per class
    busi_two_lesions: dict[str, int]  # images with a second lesion (and a _mask_1 file) per lesion class
    udiat: int  # images, benign and malignant mixed 110:53 as in the real set
    pocus_videos: int  # videos (one per patient) per class
    pocus_frames: int  # frames per video
    pocus_stride: int  # every stride-th frame of a video is also saved as an image
    camus_patients: int  # each with 2CH and 4CH at ED and ES
    natural_classes: int  # photographs, the first of natural.SOURCES
    natural_per_class: int  # crops per photograph
    busi_sizes: tuple[int, int] | None = None  # BUSI-like non-square sizes within this range, else size x size

    @property
    def pocus_images_per_video(self) -> int:
        return len(range(0, self.pocus_frames, self.pocus_stride))


_OTHER_SETS_DEFAULT = {"udiat": 30, "pocus_videos": 8, "pocus_frames": 20, "pocus_stride": 4, "camus_patients": 20,
                       "natural_classes": 12, "natural_per_class": 10}
PRESETS = {
    "test": UltrasoundPreset(size=128, busi={"benign": 5, "malignant": 4, "normal": 4},
                             busi_two_lesions={"benign": 1, "malignant": 1}, udiat=6, pocus_videos=2, pocus_frames=9,
                             pocus_stride=3, camus_patients=3, natural_classes=4, natural_per_class=4),
    "default": UltrasoundPreset(size=256, busi={"benign": 60, "malignant": 40, "normal": 20},
                                busi_two_lesions={"benign": 3, "malignant": 3}, **_OTHER_SETS_DEFAULT),
    # BUSI: 780 images of 437 benign, 210 malignant, 133 normal; 16 and 1 with a second lesion (3.7% and 0.5%)
    "benchmark": UltrasoundPreset(size=256, busi={"benign": 437, "malignant": 210, "normal": 133},
                                  busi_two_lesions={"benign": 16, "malignant": 1}, busi_sizes=(190, 719),
                                  **_OTHER_SETS_DEFAULT),
}
"""Preset name -> what it writes. "test": 13 BUSI images (one benign and one malignant with two lesions),
6 UDIAT, 2 videos of 9 frames per lung class (3 images each, 18 images), 3 CAMUS patients (24 files), 4 x 4
natural crops, all 128 x 128. "default": BUSI 60 benign / 40 malignant / 20 normal (3 two-lesion images in
each lesion class), 30 UDIAT, 8 videos of 20 frames per lung class (5 images each, 120 images), 20 CAMUS
patients, 12 x 10 natural crops, all 256 x 256. "benchmark": BUSI as large as the real set, non-square images
of 190-719 px, with the real set's share of two-lesion images; the other sets as "default"."""
