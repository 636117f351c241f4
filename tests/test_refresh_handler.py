"""The soft-label refresh: with until_separated, the warm-up lasts until the distance mixtures separate."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from custom.engines import SoftLabelBank, SoftLabelRefreshHandler
from custom.engines import handlers
from custom.training.precision import MixedPrecision


def _engine(epoch: int):
    return SimpleNamespace(network=None, state=SimpleNamespace(epoch=epoch))


def test_warm_up_goes_on_until_the_mixtures_separate(monkeypatch, tmp_path):
    n = 4000
    rng = np.random.default_rng(0)
    weak = np.where(np.arange(n) < n // 2, 0, -1)
    dataset = SimpleNamespace(weak_labels=weak, truth=np.zeros(n, dtype=int), patient_ids=np.arange(n) // 8)
    bank = SoftLabelBank(weak, unknown_prior=0.5)
    handler = SoftLabelRefreshHandler(dataset, bank, MixedPrecision("cpu", enabled=False), warmup_epochs=1,
                                      output_dir=str(tmp_path), until_separated=True)
    one_mode = rng.normal(1.0, 0.1, n)
    monkeypatch.setattr(handlers, "pair_distances", lambda *args, **kwargs: (one_mode, one_mode))
    handler.on_epoch_started(_engine(2))
    assert bank.refreshes == 0 and set(np.unique(bank.from_a)) == {0.0, 0.5}, "still the weak targets"
    assert handler.history[-1]["net_a"]["fallback"] and "one Gaussian" in handler.history[-1]["net_a"]["fallback"]

    two_modes = np.where(rng.random(n) < 0.2, rng.normal(2.0, 0.1, n), rng.normal(1.0, 0.1, n))
    monkeypatch.setattr(handlers, "pair_distances", lambda *args, **kwargs: (two_modes, two_modes))
    handler.on_epoch_started(_engine(3))
    assert bank.refreshes == 1
    unknown = weak == -1
    assert np.corrcoef(bank.from_b[unknown], two_modes[unknown] > 1.5)[0, 1] > 0.95

    monkeypatch.setattr(handlers, "pair_distances", lambda *args, **kwargs: (one_mode, one_mode))
    handler.on_epoch_started(_engine(4))
    assert bank.refreshes == 2, "once the soft labels are in use, every refresh updates them"
