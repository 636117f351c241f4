"""Which function reads which data-set layout. Adding a reader: its module under ``custom/mammography/data/readers/``
(a function ``(root, *, report) -> manifest DataFrame``, built with ``custom.mammography.data.readers.common``) and one line
in ``READERS``. The modules are imported when their layout is asked for, so that no reader is loaded for
nothing and the manifest module, which the readers use, does not import them back.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from custom.skip_report import SkipReport

READERS = {
    "vindr": "custom.mammography.data.readers.vindr:read_vindr",
    "cbis": "custom.mammography.data.readers.cbis:read_cbis",
    "inbreast": "custom.mammography.data.readers.inbreast:read_inbreast",
    "csv": "custom.mammography.data.readers.generic:read_generic_csv",
}


class ManifestReader(Protocol):
    """What a reader is: a function from a data-set folder to manifest rows."""

    def __call__(self, root: str | Path, *, report: SkipReport) -> pd.DataFrame:
        """The data set under ``root`` as laid out on disk, as manifest rows
        (``custom.mammography.data.manifest.manifest_frame``); what it skips goes to ``report``."""


def reader_for(layout: str) -> ManifestReader:
    """The reader of ``layout``; ``ValueError`` naming the known layouts for any other name."""
    if layout not in READERS:
        raise ValueError(f"unknown data-set format {layout!r}; expected one of {sorted(READERS)}")
    module, function = READERS[layout].split(":")
    return getattr(importlib.import_module(module), function)
