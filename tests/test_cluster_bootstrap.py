"""Differences of means with a patient-level cluster bootstrap (the soft-label gap of the training log)."""

from __future__ import annotations

import numpy as np
import pytest

from custom.mammography.engines.diagnostics import soft_label_report
from custom.evaluation.metrics import mean_difference_with_ci


def test_difference_of_means_and_its_interval():
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(200), 5)
    first = patients < 100
    values = np.where(first, 0.7, 0.2) + 0.1 * rng.standard_normal(patients.size)
    result = mean_difference_with_ci(values, first, ~first, patients)
    assert result.value == pytest.approx(values[first].mean() - values[~first].mean())
    assert result.ci_low < result.value < result.ci_high
    assert 0.45 < result.ci_low and result.ci_high < 0.55


def test_interval_widens_when_a_patients_values_are_alike():
    """Five copies of one draw per patient carry the information of one: the interval must say so."""
    rng = np.random.default_rng(1)
    patients = np.repeat(np.arange(100), 5)
    first = patients < 50
    independent = rng.standard_normal(patients.size)
    clustered = np.repeat(rng.standard_normal(100), 5)
    width = {}
    for name, values in (("independent", independent), ("clustered", clustered)):
        result = mean_difference_with_ci(values, first, ~first, patients)
        width[name] = result.ci_high - result.ci_low
    assert width["clustered"] > 1.7 * width["independent"]


def test_empty_set_and_misshapen_mask_are_refused():
    values, patients = np.ones(4), np.arange(4)
    with pytest.raises(ValueError, match="at least one value"):
        mean_difference_with_ci(values, np.zeros(4, bool), np.ones(4, bool), patients)
    with pytest.raises(ValueError, match="one entry per value"):
        mean_difference_with_ci(values, np.ones(3, bool), np.ones(4, bool), patients)


def test_soft_label_report_gap():
    patients = np.repeat(np.arange(40), 4)
    weak = np.where(patients < 20, 0, -1)
    truth = ((patients >= 20) & (np.arange(patients.size) % 4 == 0)).astype(int)
    soft = np.where(truth == 1, 0.9, np.where(weak == 0, 0.1, 0.4))
    report = soft_label_report(soft, weak, truth, patients)
    assert report["lesion"]["mean"] == pytest.approx(0.9)
    assert report["candidate_normal"]["mean"] == pytest.approx(0.4)
    gap = report["gap_lesion_minus_normal_normal"]
    for field in ("mean", "ci_low", "ci_high"):
        assert gap[field] == pytest.approx(0.8)
