"""Checkpoints written whole or not at all (:mod:`custom.atomic_write` for other files)."""

from __future__ import annotations

from pathlib import Path

import torch

from custom.atomic_write import replaced_when_done


def atomic_torch_save(obj, path: str | Path) -> None:
    """``torch.save`` that never leaves a broken checkpoint."""
    with replaced_when_done(path) as tmp:
        torch.save(obj, tmp)
