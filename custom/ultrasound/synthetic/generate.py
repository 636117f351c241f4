"""``synth_us``: every synthetic ultrasound set in its real layout under one folder, with a README."""

from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from custom.ultrasound.synthetic.presets import PRESETS, UltrasoundPreset
from custom.ultrasound.synthetic.version import SYNTHETIC_VERSION
from custom.ultrasound.synthetic.writers import FOLDERS, TRUTH_FOLDER, WRITERS

README = """Synthetic ultrasound data (custom.ultrasound.synthetic, synthetic_version {version}, preset "{preset}",
seed {seed}), not patient data.
Images are formed the way a scanner forms them (random scatterers, pulse, envelope, attenuation, TGC, log
compression, linear or sector geometry); each folder imitates the layout of a public data set:

Dataset_BUSI_with_GT/  breast ultrasound, BUSI (Al-Dhabyani et al. 2020): benign/malignant/normal folders,
                       "<class> (<n>).png" with "<class> (<n>)_mask.png" and "_mask_1.png" for a second lesion;
                       the masks are outlines drawn as by hand, off the true margin by a few per cent
Dataset_BUSI_truth/    what no real set ships: lesions.csv (how each lesion was drawn: kind, margin, posterior
                       feature, echogenicity, size) and exact_masks/ (the lesions' exact regions)
UDIAT/                 breast ultrasound "Dataset B" (Yap et al. 2018): original/ images, GT/ masks
POCUS/                 lung point-of-care ultrasound (Born et al. 2021): image/<class>/<video>_frame<k>.png,
                       one frame in {stride} of video/<class>/<video>.gif; one video per patient
CAMUS/                 apical 2- and 4-chamber echocardiography (Leclerc et al. 2019): patient<nnnn>/ with
                       ED and ES images and labels (0 background, 1 LV, 2 myocardium, 3 LA) as .nii.gz
natural/               natural images: crops of the photographs bundled with scikit-image, one class each

{sizes} Same seed and preset, same bytes.
"""


def synth_us(out: str | Path, seed: int = 0, preset: str = "default", progress: bool | None = None,
             sets: tuple[str, ...] | None = None, workers: int = 1) -> Path:
    """Writes BUSI-, UDIAT-, POCUS- and CAMUS-like sets and natural images to ``out`` (``python -m custom
    synth-us``), or only ``sets`` (names of ``FOLDERS``). Refuses a folder that already holds one of the sets it
    would write, so nothing of the user's is overwritten. ``progress`` (default: all presets but "test") shows a
    progress bar; ``workers`` > 1 draws the breast images in that many processes (same bytes)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    sets = tuple(FOLDERS) if sets is None else tuple(sets)
    unknown = sorted(set(sets) - set(FOLDERS))
    if unknown:
        raise ValueError(f"unknown synthetic set(s) {unknown}; choose from {sorted(FOLDERS)}")
    spec = PRESETS[preset]
    root = Path(out)
    names = [FOLDERS[name] for name in sets] + ([TRUTH_FOLDER] if "busi" in sets else [])
    for name in names:
        if (root / name).exists():
            raise FileExistsError(f"{root / name} already exists: synth-us writes only into a folder without it")
    readme = root / "README.txt"
    if readme.exists() and not readme.read_text().startswith(README[:24]):
        raise FileExistsError(f"{readme} already exists and is not synth-us's: synth-us writes only into a folder "
                              "without it")
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tqdm(total=_items(spec, sets), desc="synthetic ultrasound", unit="item",
              disable=not (preset != "test" if progress is None else progress)) as bar:
        for name in sets:
            options = {"workers": workers} if name == "busi" else {}
            WRITERS[name](root, spec, seed, bar.update, **options)
    sizes = (f"BUSI images are {spec.busi_sizes[0]}-{spec.busi_sizes[1]} pixels high and wide, not square; the "
             f"others {spec.size} x {spec.size}." if spec.busi_sizes else f"All images are {spec.size} x {spec.size} "
             "pixels.")
    readme.write_text(README.format(version=SYNTHETIC_VERSION, preset=preset, seed=seed, stride=spec.pocus_stride,
                                    sizes=sizes))
    counts = {"busi": f"{sum(spec.busi.values())} BUSI", "udiat": f"{spec.udiat} UDIAT",
              "pocus": f"{3 * spec.pocus_videos} lung videos ({3 * spec.pocus_videos * spec.pocus_images_per_video} "
                       "frames saved as images)",
              "camus": f"{spec.camus_patients} CAMUS patients",
              "natural": f"{spec.natural_classes * spec.natural_per_class} natural images"}
    print(f"synthetic ultrasound data in {root}: {', '.join(counts[name] for name in sets)}, "
          f"{time.perf_counter() - start:.1f} s")
    return root


def _items(spec: UltrasoundPreset, sets: tuple[str, ...]) -> int:
    """Progress-bar steps: one per breast or natural image, lung video and heart patient."""
    steps = {"busi": sum(spec.busi.values()), "udiat": spec.udiat, "pocus": 3 * spec.pocus_videos,
             "camus": spec.camus_patients, "natural": spec.natural_classes * spec.natural_per_class}
    return sum(steps[name] for name in sets)
