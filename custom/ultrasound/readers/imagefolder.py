"""Natural (or any) images in the image-folder layout, ``<root>/<class>/<image>.{png,jpg,jpeg}``: the layout of
torchvision's ``ImageFolder`` and of most natural-image sets unpacked for pretraining. No masks, no patients:
the split is drawn by image, per class, with the seed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from custom.skip_report import SkipReport
from custom.ultrasound.manifest import us_manifest_frame
from custom.ultrasound.readers.common import IMAGE_SUFFIXES, entries, image_size, relative_id


def read_imagefolder(root: str | Path, *, report: SkipReport) -> pd.DataFrame:
    """The images of every class folder directly under ``root``. Reported and left out: a file outside a class
    folder, a folder inside a class folder, a file that is not a PNG or JPEG image, an unreadable image."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (imagefolder layout)")
    rows = []
    for entry in entries(root):
        if not entry.is_dir():
            report.skip(entry, "not in a class folder: the image-folder layout is <root>/<class>/<image>")
            continue
        for path in entries(entry):
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                report.skip(path, f"not an image: class folders hold {', '.join(IMAGE_SUFFIXES)} files only")
            elif image_size(path, report) is not None:
                rows.append({"dataset": "imagefolder", "image_id": relative_id(path, root), "path": str(path),
                             "class_name": entry.name})
    return us_manifest_frame(rows)
