"""``manifest --check``: every listed image opened once, in parallel, so that an archive's bad files are found
and named in minutes, before a long training run meets them one by one."""

from __future__ import annotations

import pandas as pd
from tqdm.auto import tqdm

from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.parallel import map_reporting
from custom.mammography.data.reader import read_mammogram
from custom.skip_report import SkipReport

# Images are decoded in full but segmented at 1/8 size: decoding is what can fail, and it is the slow part.
CHECK_DOWNSAMPLE = 8


def check_images(manifest: pd.DataFrame, *, num_workers: int, report: SkipReport, progress: bool = True) -> pd.DataFrame:
    """The manifest without the images that cannot be used, each reported with its file and problem.

    An image is usable when it decodes to a finite greyscale mammogram and its tags agree with the
    manifest's laterality and view.
    """
    rows = list(manifest[["path", "laterality", "view"]].itertuples(index=False, name=None))
    if not rows:
        raise ValueError("the manifest lists no image to check")
    usable = []
    for (path, _, _), outcome in tqdm(map_reporting(_open, rows, num_workers), total=len(rows), desc="opening images",
                                      unit="image", disable=not progress):
        usable.append(outcome is None)
        if outcome is not None:
            report.skip(getattr(outcome, "path", path), f"unusable image: {getattr(outcome, 'problem', outcome)}")
    if not any(usable):
        raise MammogramReadError(rows[0][0], f"none of the {len(rows)} listed images can be used ({report.summary()})")
    return manifest[usable].reset_index(drop=True)


def _open(row: tuple[str, str, str]) -> None:
    path, laterality, view = row
    read_mammogram(path, laterality=laterality, view=view, downsample=CHECK_DOWNSAMPLE)
