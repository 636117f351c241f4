"""The folder a training run writes its checkpoints into: one run at a time, one data set per run.

A training config's first ``training`` step claims its checkpoint folder (:func:`claim_run_folder`):

- **One run at a time.** It takes the folder's lock (``.training.lock``, held until the process ends; the
  operating system releases it when a run is killed). A second training into the same folder stops at once
  with one line naming the folder, instead of both writing the same checkpoints and the last one winning.
- **One data set per run.** The folder records the data set its run trains on (``dataset.json``: folder,
  layout, image count and fingerprint, :mod:`custom.dataset_identity`). A run on another data set **starts
  fresh, saying so in one line**: the other run's files in the folder (checkpoint, label bank, weights,
  detector calibration) are moved, never deleted, into ``previous_runs/<format>_<fingerprint>/`` beside them,
  so that nothing of it is resumed and nothing of it is lost. Sub-folders are other runs' (the self-supervised
  baselines' ``models/<method>/``) and stay. A folder whose run recorded no data set (written before this
  record existed) is taken to be on this data set and resumed, as before.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from filelock import FileLock, Timeout

from custom.atomic_write import atomic_write_json
from custom.clear_errors import ClearError
from custom.dataset_identity import DataSetIdentity

logger = logging.getLogger(__name__)

RECORD = "dataset.json"
LOCK = ".training.lock"
PREVIOUS_RUNS = "previous_runs"
_held: dict[str, FileLock] = {}  # locks this process holds, by folder: a second claim by the same process is fine


class FolderInUse(ClearError, RuntimeError):
    """Another process is training into the folder."""


def claim_run_folder(folder: str | Path, data: DataSetIdentity) -> Path | None:
    """Claims ``folder`` for this run (:func:`_claim`): the lock, a fresh start on another data set, the record.

    Under torchrun every rank calls it: the main process claims, and the others wait for it (a collective), so
    that no rank looks for a checkpoint to resume while the files of an earlier run are being moved; an error of
    the main process (another run holds the folder) stops every rank with the same message.

    Raises:
        FolderInUse: another process is training into ``folder``.
    """
    from custom.distributed import broadcast_from_main, is_main_process

    outcome: dict = {}
    if is_main_process():
        try:
            outcome["moved"] = _claim(folder, data)
        except FolderInUse as error:
            outcome["in_use"] = str(error)
    outcome = broadcast_from_main(outcome)
    if "in_use" in outcome:
        raise FolderInUse(outcome["in_use"])
    return outcome["moved"]


def _claim(folder: str | Path, data: DataSetIdentity) -> Path | None:
    """Locks ``folder`` for this process, and moves the files of a run on another data set out of the way
    (returns where they went; None when nothing moved); records ``data`` as the folder's data set.

    Raises:
        FolderInUse: another process is training into ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    hold_lock(folder)
    recorded = recorded_data_set(folder)
    moved = None
    if recorded is not None and recorded.fingerprint != data.fingerprint:
        moved = _move_run_files(folder, recorded)
        if moved is not None:
            logger.warning("%s held a run on %s; this run is on %s, so it starts fresh: the earlier run's files "
                           "moved to %s", folder, recorded.describe(), data.describe(), moved)
    elif recorded is None and _run_files(folder):
        logger.info("%s holds a run that recorded no data set: taken to be on %s", folder, data.describe())
    atomic_write_json(folder / RECORD, data.as_dict())
    return moved


def hold_lock(folder: Path) -> None:
    """Takes ``folder``'s training lock for the rest of this process, or stops naming the folder."""
    key = str(folder.resolve())
    if key in _held:
        return
    lock = FileLock(str(folder / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise FolderInUse(
            f"{folder}: another training run is writing into this folder (it holds {folder / LOCK}); wait for it "
            "to end, or train into another folder with --bundle_root DIR"
        ) from None
    _held[key] = lock


def recorded_data_set(folder: str | Path) -> DataSetIdentity | None:
    """The data set ``folder``'s run recorded; None when it recorded none (or the record is unreadable)."""
    try:
        return DataSetIdentity.from_dict(json.loads((Path(folder) / RECORD).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _run_files(folder: Path) -> list[Path]:
    """The files a run left directly in ``folder``: not its sub-folders (other runs), lock or hidden files."""
    return sorted(path for path in folder.iterdir()
                  if path.is_file() and not path.name.startswith(".") and path.name != RECORD)


def _move_run_files(folder: Path, recorded: DataSetIdentity) -> Path | None:
    files = _run_files(folder)
    if not files:
        return None
    target = folder / PREVIOUS_RUNS / recorded.short_name()
    number = 1
    while target.exists():
        number += 1
        target = folder / PREVIOUS_RUNS / f"{recorded.short_name()}_{number}"
    target.mkdir(parents=True)
    for path in [*files, folder / RECORD]:
        os.replace(path, target / path.name)
    return target
