"""Files written whole or not at all: manifests, caches, run records, outputs and (with ``custom.training``)
checkpoints.

Every writer writes a temporary file beside its target and renames it over the target (``os.replace`` is
atomic within a file system), so an interrupted run or a full disk never leaves a truncated file, and an old
file stays until the new one is complete. A write that fails names the file (``FileWriteError``: pandas and
numpy report a full disk without it). A target that exists and is no regular file (``/dev/stdout``, a pipe)
is written in place, since renaming onto it would replace the device itself; a symbolic link is written
through, to the file it points to. ``monai.utils.save_obj(atomic=True)`` is not used for this: it deletes the
old file first and moves the new one in from a temporary folder, possibly on another file system, so an
interruption between the two loses both. No torch here: data preparation imports this module, and importing
torch costs each process about 330 MiB.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from custom.clear_errors import ClearError


class FileWriteError(ClearError, OSError):
    """A file that could not be written (a full disk, no permission); the message names it, and says that
    the file it would have replaced is unchanged. ``errno`` and ``strerror`` are the system's."""

    def __str__(self) -> str:
        return f"{self.filename}: cannot write it ({self.strerror}); any earlier file there is unchanged"


@contextmanager
def replaced_when_done(path: str | Path, *, keep_suffix: bool = False) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` to write; renames it to ``path`` when the block succeeds, and
    removes it when the block fails (the error goes on; an ``OSError`` as a ``FileWriteError`` naming
    ``path``). ``keep_suffix``: the temporary name ends with ``path``'s suffixes too, for writers that choose
    the format by them (nibabel, matplotlib)."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    if _special(path):
        with _named_on_failure(path):
            yield path
        return
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp" + ("".join(path.suffixes) if keep_suffix else ""))
    try:
        with _named_on_failure(path):
            yield tmp
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _special(path: Path) -> bool:
    """An existing target that is no regular file or folder: a device, a pipe, a socket."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


@contextmanager
def _named_on_failure(path: Path) -> Iterator[None]:
    try:
        yield
    except FileWriteError:
        raise
    except OSError as error:
        raise FileWriteError(error.errno, error.strerror or str(error), str(path)) from error


def atomic_write_json(path: str | Path, payload, indent: int | None = 2) -> None:
    with replaced_when_done(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=indent))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with replaced_when_done(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    with replaced_when_done(path) as tmp:
        tmp.write_text(text)
