"""BUSI, the Breast Ultrasound Images data set (Al-Dhabyani et al., Data in Brief 28, 2020), read as distributed:
``Dataset_BUSI_with_GT/{benign,malignant,normal}/`` holding ``benign (12).png``, its mask ``benign (12)_mask.png``
and, for a second or third lesion, ``benign (12)_mask_1.png``, ``benign (12)_mask_2.png``. Every mask of an image
is listed; ``load_merged_mask`` and ``LoadMergedMaskd`` merge them into one binary mask when loading. Normal
images have an empty mask. The PNGs are RGB but grey in fact; the loader makes them one channel.

BUSI gives no patient ids (780 images of 600 women): the patient grouping is unknown, so two images of one woman
may land in two splits. The split is drawn by image, per class, with the seed, and written into the manifest,
which keeps it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from custom.skip_report import SkipReport
from custom.ultrasound.manifest import us_manifest_frame
from custom.ultrasound.readers.common import child_folder, entries, layout_folder, relative_id, usable_with_masks

CLASSES = ("benign", "malignant", "normal")
_MASK = re.compile(r"^(?P<image>.+)_mask(?:_(?P<index>\d+))?$", re.IGNORECASE)


def read_busi(root: str | Path, *, report: SkipReport) -> pd.DataFrame:
    """The BUSI images under ``root`` (``Dataset_BUSI_with_GT`` or the folder holding it), each with its masks.

    Reported and left out: an image without a mask, or without its first mask (``_mask_1`` but no ``_mask``), a
    mask without its image, an unreadable or constant PNG, a mask whose size differs from its image's, a file
    that is not a PNG.
    """
    root = layout_folder(root, lambda folder: any(child_folder(folder, c) for c in CLASSES), "BUSI")
    rows = []
    for name in CLASSES:
        folder = child_folder(root, name)
        if folder is not None:
            rows += _class_rows(folder, name, root, report)
    return us_manifest_frame(rows)


def _class_rows(folder: Path, class_name: str, root: Path, report: SkipReport) -> list[dict]:
    images, masks = {}, {}
    for path in entries(folder):
        if path.is_dir() or path.suffix.lower() != ".png":
            report.skip(path, "not a BUSI file: BUSI class folders hold PNG images and masks only")
            continue
        match = _MASK.match(path.stem)
        if match:
            masks.setdefault(match["image"], []).append((int(match["index"] or 0), path))
        else:
            images[path.stem] = path
    for stem in sorted(set(masks) - set(images)):
        for _, path in sorted(masks[stem]):
            report.skip(path, f"mask without image: no {stem}.png beside it")
    rows = []
    for stem, path in sorted(images.items()):
        if stem not in masks:
            report.skip(path, f"image without mask: no {stem}_mask.png beside it")
            continue
        if 0 not in {index for index, _ in masks[stem]}:
            others = ", ".join(mask.name for _, mask in sorted(masks[stem]))
            report.skip(path, f"first mask missing: no {stem}_mask.png beside it, only {others}, so a lesion would "
                              "have no ground truth")
            continue
        mask_paths = [mask for _, mask in sorted(masks[stem])]
        if usable_with_masks(path, mask_paths, report):
            rows.append({"dataset": "busi", "image_id": relative_id(path, root), "path": str(path),
                         "mask_paths": [str(mask) for mask in mask_paths], "class_name": class_name})
    return rows
