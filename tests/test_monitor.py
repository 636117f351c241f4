"""The embedding monitor: effective rank, quick probe, and one record per epoch."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from custom.mammography.engines.monitor import EmbeddingMonitor, effective_rank, quick_probe_auc
from custom.training.precision import MixedPrecision
from custom.networks import CoTrainedSiamesePair


def test_effective_rank_counts_the_directions_the_points_fill():
    rng = np.random.default_rng(0)
    line = rng.standard_normal((500, 1)) * np.ones((1, 16))
    assert effective_rank(line) == pytest.approx(1.0, abs=0.05)
    assert 14.0 < effective_rank(rng.standard_normal((5000, 16))) <= 16.0


def test_quick_probe_auc_separates_an_informative_feature_and_not_noise():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 100)
    groups = np.arange(200) // 2
    noise = rng.standard_normal((200, 8))
    informative = noise + 3.0 * labels[:, None]
    assert quick_probe_auc(informative, labels, groups) > 0.95
    assert 0.3 < quick_probe_auc(noise, labels, groups) < 0.7
    assert quick_probe_auc(noise, labels, np.zeros(200)) is None  # one patient: no grouped folds


def test_monitor_writes_one_record_per_call(tmp_path):
    class Patches:  # what the monitor reads of a LabelledPatchDataset
        patches = np.random.default_rng(0).random((24, 32, 32)).astype(np.float16)
        abnormal = np.repeat([0, 1], 12)
        patient_ids = np.arange(24) // 2

        def __len__(self):
            return 24

    patches = Patches()
    monitor = EmbeddingMonitor(patches, MixedPrecision("cpu", enabled=False), output_dir=str(tmp_path))
    engine = SimpleNamespace(network=CoTrainedSiamesePair(seeds=(0, 1), normalize=True), state=SimpleNamespace(epoch=0))
    engine.network.train()
    monitor(engine)
    engine.state.epoch = 1
    monitor(engine)
    history = json.loads((tmp_path / "embedding_monitor.json").read_text())
    assert [r["epoch"] for r in history] == [0, 1]
    assert history[0]["net_a"]["effective_rank"] > 1 and history[0]["net_b"]["mean_std"] > 0
    assert engine.network.training, "the monitor restores the training mode"
    assert torch.is_grad_enabled()
