"""``synth_us``: every synthetic ultrasound set in its real layout under one folder, with a README."""

from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from custom.ultrasound.synthetic.presets import PRESETS, UltrasoundPreset
from custom.ultrasound.synthetic.writers import FOLDERS, WRITERS

README = """Synthetic ultrasound data (custom.ultrasound.synthetic, preset "{preset}", seed {seed}), not patient data.
Images are formed the way a scanner forms them (random scatterers, pulse, envelope, attenuation, TGC, log
compression, linear or sector geometry); each folder imitates the layout of a public data set:

Dataset_BUSI_with_GT/  breast ultrasound, BUSI (Al-Dhabyani et al. 2020): benign/malignant/normal folders,
                       "<class> (<n>).png" with "<class> (<n>)_mask.png" and "_mask_1.png" for a second lesion
UDIAT/                 breast ultrasound "Dataset B" (Yap et al. 2018): original/ images, GT/ masks
POCUS/                 lung point-of-care ultrasound (Born et al. 2021): image/<class>/<video>_frame<k>.png,
                       one frame in {stride} of video/<class>/<video>.gif; one video per patient
CAMUS/                 apical 2- and 4-chamber echocardiography (Leclerc et al. 2019): patient<nnnn>/ with
                       ED and ES images and labels (0 background, 1 LV, 2 myocardium, 3 LA) as .nii.gz
natural/               natural images: crops of the photographs bundled with scikit-image, one class each

All images are {size} x {size} pixels. Same seed and preset, same bytes.
"""


def synth_us(out: str | Path, seed: int = 0, preset: str = "default", progress: bool | None = None) -> Path:
    """Writes BUSI-, UDIAT-, POCUS- and CAMUS-like sets and natural images to ``out`` (``python -m custom
    synth-us``). Refuses a folder that already holds one of them, so nothing of the user's is overwritten.
    ``progress`` (default: all presets but "test") shows a progress bar."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    spec = PRESETS[preset]
    root = Path(out)
    for name in [*FOLDERS.values(), "README.txt"]:
        if (root / name).exists():
            raise FileExistsError(f"{root / name} already exists: synth-us writes only into a folder without it")
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tqdm(total=_items(spec), desc="synthetic ultrasound", unit="item",
              disable=not (preset != "test" if progress is None else progress)) as bar:
        for writer in WRITERS.values():
            writer(root, spec, seed, bar.update)
    (root / "README.txt").write_text(README.format(preset=preset, seed=seed, stride=spec.pocus_stride,
                                                   size=spec.size))
    print(f"synthetic ultrasound data in {root}: {sum(spec.busi.values())} BUSI, {spec.udiat} UDIAT, "
          f"{3 * spec.pocus_videos} lung videos ({3 * spec.pocus_videos * spec.pocus_images_per_video} frames "
          f"saved as images), {spec.camus_patients} CAMUS patients, "
          f"{spec.natural_classes * spec.natural_per_class} natural images, {time.perf_counter() - start:.1f} s")
    return root


def _items(spec: UltrasoundPreset) -> int:
    """Progress-bar steps: one per breast or natural image, lung video and heart patient."""
    return (sum(spec.busi.values()) + spec.udiat + 3 * spec.pocus_videos + spec.camus_patients
            + spec.natural_classes * spec.natural_per_class)
