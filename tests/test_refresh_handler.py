"""The soft-label refresh: with until_separated, the warm-up lasts until the distance mixtures separate; with
label_scale "exam", the mixture sees each distance relative to its exam's other pairs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from custom.mammography.engines import SoftLabelBank, SoftLabelRefreshHandler
from custom.mammography.engines import handlers
from custom.mammography.engines.pair_scores import standardise_within
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


def test_standardise_within_groups():
    values = np.array([1.0, 2.0, 3.0, 10.0, 10.0, 5.0])
    groups = np.array([7, 7, 7, 3, 3, 9])
    np.testing.assert_allclose(standardise_within(values, groups), [-1.2247449, 0.0, 1.2247449, 0.0, 0.0, 0.0])


def test_exam_scale_labels_the_pair_that_stands_out_in_its_exam(monkeypatch, tmp_path):
    """Exams differ tenfold in their distance level; one pair of each candidate exam stands out within it.
    On raw distances the mixture separates the exams; on the exam scale it finds the outlying pairs."""
    rng = np.random.default_rng(0)
    n_exams, per_exam = 200, 8
    exam = np.repeat(np.arange(n_exams), per_exam)
    level = np.where(np.arange(n_exams) % 2 == 0, 0.1, 1.0)[exam]
    outlier = (np.arange(exam.size) % per_exam == 0) & (exam >= n_exams // 4)
    distances = level * (1.0 + 0.05 * rng.standard_normal(exam.size) + 0.5 * outlier)
    weak = np.where(exam < n_exams // 4, 0, -1)
    dataset = SimpleNamespace(weak_labels=weak, truth=outlier.astype(int), patient_ids=exam, exam_indices=exam)
    monkeypatch.setattr(handlers, "pair_distances", lambda *args, **kwargs: (distances, distances))
    labels = {}
    for scale in ("raw", "exam"):
        bank = SoftLabelBank(weak, unknown_prior=0.5)
        SoftLabelRefreshHandler(dataset, bank, MixedPrecision("cpu", enabled=False), output_dir=str(tmp_path),
                                label_scale=scale).on_epoch_started(_engine(2))
        labels[scale] = bank.from_a
    unknown = weak == -1
    for scale, low, high in (("raw", -0.5, 0.5), ("exam", 0.95, 1.0)):
        agreement = np.corrcoef(labels[scale][unknown], outlier[unknown])[0, 1]
        assert low <= agreement <= high, (scale, agreement)


def test_unknown_label_scale_is_refused():
    with pytest.raises(ValueError, match="label_scale must be one of"):
        SoftLabelRefreshHandler(None, None, None, label_scale="patient")


def test_label_momentum_keeps_a_share_of_the_previous_labels():
    weak = np.array([0, -1, -1])
    first, second = np.array([0.0, 0.2, 0.8]), np.array([0.0, 1.0, 0.0])
    bank = SoftLabelBank(weak, unknown_prior=0.5, momentum=0.75)
    bank.update(first, first)
    np.testing.assert_allclose(bank.from_a, first, err_msg="the first refresh replaces the weak targets")
    bank.update(second, second)
    np.testing.assert_allclose(bank.from_b, [0.0, 0.4, 0.6])
    fixed = SoftLabelBank(weak, momentum=1.0)
    fixed.update(first, first)
    fixed.update(second, second)
    np.testing.assert_allclose(fixed.from_a, first, err_msg="momentum 1 keeps the first labels")
    with pytest.raises(ValueError, match="momentum must lie in"):
        SoftLabelBank(weak, momentum=1.5)
