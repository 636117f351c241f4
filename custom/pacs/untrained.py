"""A runnable copy of a bundle for a demonstration from nothing: a seeded, *untrained* encoder and a detector
calibration fitted on a few synthetic exams, in seconds instead of the 8.5 minutes of the README's training.

Its boxes show the whole chain working (PACS, detector, SR, viewer); they say nothing about lesions. Its
folder name ends in ``_untrained``, which every result it writes repeats in its series description.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import torch

from custom.bundle_location import DEFAULT_BUNDLE, bundle_folder
from custom.mammography.data.presets import patch_preset
from custom.mammography.data.synthetic import generate_vindr_like
from custom.mammography.detection import calibrate_after_training, exams_from_images
from custom.networks import seeded_encoder
from custom.training.precision import MixedPrecision

CALIBRATION_STUDIES = 6


def untrained_bundle(folder: str | Path, source: str | Path = DEFAULT_BUNDLE, *, seed: int = 0,
                     studies: int = CALIBRATION_STUDIES, patch: str = "96") -> Path:
    """Writes ``folder/<source name>_untrained/`` (the source's configs, ``models/model.pt`` from a seeded encoder,
    ``models/detector.json`` fitted on ``studies`` synthetic test-size exams) and returns it."""
    source = bundle_folder(source)
    bundle = Path(folder) / f"{source.resolve().name}_untrained"
    shutil.copytree(source / "configs", bundle / "configs", dirs_exist_ok=True)
    (bundle / "models").mkdir(parents=True, exist_ok=True)
    model_file = bundle / "models" / "model.pt"
    torch.save(seeded_encoder(seed, normalize=True).state_dict(), model_file)
    preset = patch_preset(patch)
    with tempfile.TemporaryDirectory(prefix="calibration-") as scratch:
        data = generate_vindr_like(scratch, studies=studies, seed=seed, preset="test")
        by_study = defaultdict(list)
        for path in sorted((data / "images").glob("*/*.dicom")):
            by_study[path.parent.name].append(path)
        exams = [exam for study, paths in sorted(by_study.items())
                 for exam in exams_from_images(paths, study, spacing=preset["spacing"])[0]]
        calibrate_after_training(model_file, bundle / "models" / "detector.json", exams, int(preset["patch_size"]),
                                 MixedPrecision("cpu", enabled=True), seed=seed)
    return bundle
