"""Checks on an input file before any reader opens it, so that its problem is named in plain words."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

from custom.mammography.data.errors import MammogramReadError


def resolved(path: str | Path) -> Path:
    """The absolute path with symbolic links followed; a symlink loop is a ``MammogramReadError``.

    ``Path.resolve`` raises ``RuntimeError`` (Python < 3.13) or ``OSError`` (later) on a loop.
    """
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as error:
        raise MammogramReadError(path, f"symbolic link loop ({error})") from None


def checked_file(path: str | Path) -> Path:
    """``path`` unchanged when it is a readable, non-empty regular file; otherwise says what it is instead."""
    path = Path(path)
    try:
        status = os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise MammogramReadError(path, "symbolic link loop") from None
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            raise MammogramReadError(path, "file not found") from None
        raise MammogramReadError(path, f"cannot be opened ({error.strerror})") from None
    if os.path.isdir(path):
        raise MammogramReadError(path, "is a folder, not an image file")
    if status.st_size == 0:
        raise MammogramReadError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise MammogramReadError(path, "cannot be opened (no read permission)")
    return path


# First bytes of files that end up in image folders under a wrong name.
_MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"PK\x03\x04": "a ZIP archive",
          b"%PDF": "a PDF document", b"\x1f\x8b": "a gzip file", b"II*\x00": "a TIFF image", b"MM\x00*": "a TIFF image"}


def looks_like(path: str | Path) -> str | None:
    """What a file that is not what its name says actually holds, from its first bytes; None if unknown."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return f"it holds {kind}"
    if len(head) < 132:
        return f"only {len(head)} bytes long"
    if head[128:132] != b"DICM":
        text = all(32 <= byte < 127 or byte in (9, 10, 13) for byte in head)
        return "it holds text" if text else None
    return None


def writable_output(path: str | Path, *, folder: bool = False) -> Path:
    """Checks, before a long run, that the output file (or ``folder``) ``path`` can be written.

    Missing parent folders are created; a folder where a file is wanted (or the reverse), or a place this
    user cannot write to, is a ``MammogramReadError`` naming the path.
    """
    path = Path(path)
    if not folder and path.is_dir():
        raise MammogramReadError(path, "is a folder; give a file name for the output, e.g. " + str(path / "out.csv"))
    if folder and path.exists() and not path.is_dir():
        raise MammogramReadError(path, "is a file; give a folder for the outputs")
    target = path if folder else path.parent
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise MammogramReadError(path, f"cannot write there ({error.strerror or error})") from None
    return path


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (checkpoints and caches are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
