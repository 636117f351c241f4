"""Files written whole or not at all: caches, run records, and (with ``custom.training``) checkpoints.

Every writer writes a temporary file beside its target and renames it over the target (``os.replace`` is
atomic within a file system), so an interrupted run never leaves a truncated file, and an old file stays
until the new one is complete. ``monai.utils.save_obj(atomic=True)`` is not used for this: it deletes the
old file first and moves the new one in from a temporary folder, possibly on another file system, so an
interruption between the two loses both. No torch here: data preparation imports this module, and importing
torch costs each process about 330 MiB.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_when_done(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` to write; renames it to ``path`` when the block succeeds, and
    removes it when the block fails (the error goes on)."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, payload, indent: int | None = 2) -> None:
    with replaced_when_done(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=indent))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with replaced_when_done(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
