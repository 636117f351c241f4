"""The breast ultrasound set of the UDIAT Diagnostic Centre, Sabadell, known as "Dataset B" (Yap et al., IEEE JBHI
22, 2018), read as distributed: ``original/000001.png`` with its lesion mask ``GT/000001.png`` (folder names
matched without regard to case).

The class (benign or malignant) is left empty: the PNG folders do not hold it, and no side file with it is part
of this layout. No patient ids either: the split is drawn by image with the seed and written into the manifest.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from custom.skip_report import SkipReport
from custom.ultrasound.manifest import us_manifest_frame
from custom.ultrasound.readers.common import (
    IMAGE_SUFFIXES,
    child_folder,
    entries,
    layout_folder,
    relative_id,
    usable_with_masks,
)


def read_udiat(root: str | Path, *, report: SkipReport) -> pd.DataFrame:
    """The UDIAT images under ``root`` (the folder holding ``original`` and ``GT``, or the one above it), each
    with its mask. Reported and left out: an image without its mask, a mask without its image, an unreadable
    PNG, a mask whose size differs from its image's."""
    root = layout_folder(root, lambda folder: bool(child_folder(folder, "original") and child_folder(folder, "GT")),
                         "UDIAT (original/ and GT/)")
    images = _images(child_folder(root, "original"), report)
    masks = _images(child_folder(root, "GT"), report)
    for name in sorted(set(masks) - set(images)):
        report.skip(masks[name], f"mask without image: no original/{name}")
    rows = []
    for name, path in sorted(images.items()):
        if name not in masks:
            report.skip(path, f"image without mask: no GT/{name}")
        elif usable_with_masks(path, [masks[name]], report):
            rows.append({"dataset": "udiat", "image_id": relative_id(path, root), "path": str(path),
                         "mask_paths": [str(masks[name])]})
    return us_manifest_frame(rows)


def _images(folder: Path, report: SkipReport) -> dict[str, Path]:
    found = {}
    for path in entries(folder):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            found[path.name] = path
        else:
            report.skip(path, f"not an image: {folder.name}/ holds images only")
    return found
