"""Resuming a run from the checkpoints MONAI's ``CheckpointSaver`` writes, exactly where it stopped.

A training config saves with ``CheckpointSaver(save_interval=1, n_saved=2)``: after every epoch one file
``checkpoint_epoch=<n>.pt`` holding the network, the optimiser, every other object with a state (soft labels,
the augmentation's generator) and the trainer's progress (:class:`TrainerProgress`). The data order must follow
from the seed and the epoch (a ``DistributedSampler``, whose epoch MONAI's trainer sets), not from a generator
that a data loader draws from as it goes: that cannot be put back where it was. Ignite deletes the oldest
file before it writes the newest and MONAI writes in place, so an interruption can break the file being written:
two are kept, and :func:`checkpoint_to_resume` picks the newest intact one for ``CheckpointLoader``.
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path

from ignite.engine import Engine

from custom.distributed import is_main_process

logger = logging.getLogger(__name__)
CHECKPOINT_NAME = re.compile(r"^checkpoint_epoch=(\d+)\.pt$")  # CheckpointSaver's interval file names


class TrainerProgress:
    """The trainer's epoch and iteration as an object ``CheckpointSaver`` saves and ``CheckpointLoader`` restores.

    A config cannot name the trainer inside its own handlers (``@train#trainer`` there is a circular reference);
    this handler, listed among them, stands for it.
    """

    def __init__(self):
        self.engine: Engine | None = None

    def attach(self, engine: Engine) -> None:
        self.engine = engine

    def state_dict(self) -> dict:
        return self.engine.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.engine.load_state_dict(state)


def checkpoint_to_resume(ckpt_dir: str | Path, resume: bool = True) -> str | None:
    """The newest intact ``checkpoint_epoch=<n>.pt`` in ``ckpt_dir`` to resume from, or None to start afresh.

    A file is intact when its zip directory (``torch.save``'s format, written last) can be read. With
    ``resume=False`` the main process deletes the folder's earlier checkpoints instead: they belong to a run the
    user chose not to continue, and a later resume must not pick them up.
    """
    found = sorted(((int(match.group(1)), path) for path in Path(ckpt_dir).glob("checkpoint_epoch=*.pt")
                    if (match := CHECKPOINT_NAME.match(path.name))), reverse=True)
    if not resume:
        if is_main_process():
            for _, path in found:
                path.unlink(missing_ok=True)
        return None
    for _, path in found:
        if zipfile.is_zipfile(path):
            return str(path)
        logger.warning("%s: damaged checkpoint (interrupted while written?); trying the one before it", path)
    return None
