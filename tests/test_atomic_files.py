"""Checkpoints, caches and run records are written whole or not at all (custom.atomic_write, custom.training.atomic)."""

from __future__ import annotations

import pytest
import torch

from custom.training import atomic_torch_save, atomic_write_json


def test_an_interrupted_atomic_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "checkpoint.pt"
    atomic_torch_save({"step": 1}, target)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        atomic_torch_save({"step": 2, "bad": Unpicklable()}, target)
    assert torch.load(target, weights_only=True) == {"step": 1}
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "log.json", {"not json": object()})
    assert not (tmp_path / "log.json").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
