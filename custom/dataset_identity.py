"""Which data set a file was made from: a fingerprint of its images' paths, sizes and labels.

Checkpoints, soft-label banks and cached manifests are only valid for the data set they were made from; a
run on another data set must not resume or reuse them (a label bank of 1,344 pairs meeting a data set of
1,336 crashes; a manifest of the previous folder trains on the previous data, silently). Each data source
describes its data set as a :class:`DataSetIdentity`, and what it writes records it (``custom.run_folder``,
the ultrasound manifest cache). Paths are taken relative to the data-set folder, so moving the folder keeps
the fingerprint; a file replaced by another of a different size, an image added or removed, or another split
or label changes it. No pandas here: the core imports no table library.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataSetIdentity:
    """A data set as a run records it: its folder and layout (for people), its size and its fingerprint."""

    folder: str
    format: str
    images: int
    fingerprint: str

    def describe(self) -> str:
        return f"the {self.format} data set at {self.folder} ({self.images} images)"

    def short_name(self) -> str:
        """``<format>_<first 8 hex digits>``: a folder name for the files of a run on this data set."""
        return f"{self.format}_{self.fingerprint[:8]}"

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict) -> DataSetIdentity:
        return cls(str(payload["folder"]), str(payload["format"]), int(payload["images"]), str(payload["fingerprint"]))


def identify_data_set(folder: str | Path, fmt: str, images: Iterable[Sequence]) -> DataSetIdentity:
    """The identity of the data set in ``folder`` (layout ``fmt``) listing ``images``: one row per image, its
    path first, then whatever else the run depends on (split, labels, mask paths), each as text.

    The fingerprint is the SHA-256 of the sorted rows, each path made relative to ``folder`` (where it lies
    inside it) and followed by the file's size; a missing file counts as size -1.
    """
    roots = (os.path.abspath(folder), str(Path(folder).resolve()))  # the folder as given and behind its links
    lines = sorted(_line(roots, row) for row in images)
    digest = hashlib.sha256(f"{fmt}\n".encode())
    for line in lines:
        digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
    return DataSetIdentity(roots[1], fmt, len(lines), digest.hexdigest())


def _line(roots: tuple[str, ...], row: Sequence) -> str:
    path, *rest = row
    return "\t".join([_relative(roots, str(path)), str(_size(str(path))), *map(str, rest)])


def _relative(roots: tuple[str, ...], path: str) -> str:
    absolute = os.path.abspath(path)
    for root in roots:
        if absolute.startswith(root + os.sep):
            return os.path.relpath(absolute, root)
    return absolute


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1
