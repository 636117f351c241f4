"""Which function reads which ultrasound layout. Adding a reader: its module under ``custom/ultrasound/readers/``
(a function ``(root, *, report) -> ultrasound manifest DataFrame``, built with
``custom.ultrasound.manifest.us_manifest_frame``) and one line in ``ULTRASOUND_READERS``; ``python -m custom
manifest --format <layout>`` then writes the ultrasound manifest. The modules are imported when their layout is
asked for, so that the manifest module, which the readers use, does not import them back.
"""

from __future__ import annotations

import importlib

ULTRASOUND_READERS = {
    "busi": "custom.ultrasound.readers.busi:read_busi",
    "udiat": "custom.ultrasound.readers.udiat:read_udiat",
    "pocus": "custom.ultrasound.readers.pocus:read_pocus",
    "camus": "custom.ultrasound.readers.camus:read_camus",
    "imagefolder": "custom.ultrasound.readers.imagefolder:read_imagefolder",
}


def ultrasound_reader_for(layout: str):
    """The reader of ``layout``; ``ValueError`` naming the known ultrasound layouts for any other name."""
    if layout not in ULTRASOUND_READERS:
        raise ValueError(f"unknown ultrasound data-set format {layout!r}; expected one of {sorted(ULTRASOUND_READERS)}")
    module, function = ULTRASOUND_READERS[layout].split(":")
    return getattr(importlib.import_module(module), function)
