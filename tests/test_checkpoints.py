"""Which of MONAI's CheckpointSaver files a run resumes from: the newest intact one, and none of an abandoned run."""

from __future__ import annotations

import torch

from custom.training import checkpoint_to_resume


def _save(folder, epoch: int) -> None:
    torch.save({"trainer": {"iteration": epoch}}, folder / f"checkpoint_epoch={epoch}.pt")


def test_the_newest_intact_checkpoint_is_resumed(tmp_path, caplog):
    assert checkpoint_to_resume(tmp_path / "none yet") is None
    for epoch in (2, 9, 10):
        _save(tmp_path, epoch)
    (tmp_path / "checkpoint_final_iteration=40.pt").write_bytes(b"")  # not an epoch checkpoint: never resumed
    assert checkpoint_to_resume(tmp_path) == str(tmp_path / "checkpoint_epoch=10.pt")  # 10 sorts after 9
    # the newest was cut off while written (ignite had already deleted the oldest): the one before it
    newest = tmp_path / "checkpoint_epoch=10.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    assert checkpoint_to_resume(tmp_path) == str(tmp_path / "checkpoint_epoch=9.pt")
    assert "checkpoint_epoch=10.pt: damaged checkpoint" in caplog.text


def test_a_run_started_afresh_removes_the_checkpoints_a_later_resume_would_pick_up(tmp_path):
    for epoch in (3, 4):
        _save(tmp_path, epoch)
    (tmp_path / "model.pt").write_bytes(b"weights")
    assert checkpoint_to_resume(tmp_path, resume=False) is None
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.pt"]
