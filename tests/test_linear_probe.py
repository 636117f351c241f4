"""AUC with bootstrap CIs, the patient-grouped linear probe and the encoder evaluation report."""

import csv
import json
import logging

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader

from custom.evaluation import LinearProbe, embed_patches, evaluate_encoder, macro_roc_auc, roc_auc, run_probe_tasks
from custom.evaluation.metrics import within_fold_auc


def test_roc_auc_matches_sklearn_with_a_deterministic_ci():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    score = np.round(y + rng.normal(0, 1.5, 300), 1)  # rounded: ties count one half
    result = roc_auc(y, score)
    assert result.value == pytest.approx(roc_auc_score(y, score))
    assert result.ci_low < result.value < result.ci_high and result.n == 300
    assert roc_auc(y, score) == result
    assert roc_auc(y, score, seed=1) != result


def test_macro_roc_auc_is_the_mean_one_vs_rest_auc():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    scores = rng.dirichlet(np.ones(4), 400)
    scores[np.arange(400), y] += 0.3
    expected = np.mean([roc_auc_score(y == k, scores[:, k]) for k in range(4)])
    result = macro_roc_auc(y, scores)
    assert result.value == pytest.approx(expected)
    assert result.ci_low < result.value < result.ci_high


def test_perfect_separation_has_a_degenerate_ci():
    result = roc_auc([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9])
    assert (result.value, result.ci_low, result.ci_high) == (1.0, 1.0, 1.0)


def test_single_class_is_a_clear_error():
    with pytest.raises(ValueError, match="two classes"):
        roc_auc([1, 1, 1], [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="two classes"):
        macro_roc_auc([2, 2], np.full((2, 3), 1 / 3), classes=[0, 1, 2])
    with pytest.raises(ValueError, match="macro_roc_auc"):
        roc_auc([0, 1, 2], [0.1, 0.5, 0.9])


def _clustered_scores(n_patients=40, per_patient=10, seed=0):
    """Strong within-patient correlation: the label and most of the score are shared by a patient's patches."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"p{i:03d}" for i in range(n_patients)], per_patient)
    patient_label = np.arange(n_patients) % 2
    patient_score = patient_label * 1.0 + rng.normal(0, 1, n_patients)
    labels = np.repeat(patient_label, per_patient)
    scores = np.repeat(patient_score, per_patient) + rng.normal(0, 0.1, groups.size)
    return labels, scores, groups


def test_patient_level_ci_is_wider_on_correlated_patches():
    labels, scores, groups = _clustered_scores()
    patch = roc_auc(labels, scores)
    patient = roc_auc(labels, scores, groups=groups)
    assert patient.value == patch.value and patient.n == patch.n == 400
    assert patient.ci_low < patient.value < patient.ci_high
    # 10 near-copies per patient: the effective sample is the 40 patients, about sqrt(10) ~ 3x wider
    assert patient.ci_high - patient.ci_low > 2 * (patch.ci_high - patch.ci_low)


def test_patient_level_ci_is_deterministic_by_seed():
    labels, scores, groups = _clustered_scores()
    result = roc_auc(labels, scores, groups=groups, n_bootstrap=300, seed=5)
    assert roc_auc(labels, scores, groups=groups, n_bootstrap=300, seed=5) == result
    assert roc_auc(labels, scores, groups=groups, n_bootstrap=300, seed=6) != result
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, labels.size)
    proba = rng.dirichlet(np.ones(3), labels.size)
    macro = macro_roc_auc(y, proba, groups=groups, n_bootstrap=300, seed=5)
    assert macro_roc_auc(y, proba, groups=groups, n_bootstrap=300, seed=5) == macro
    assert macro.value == macro_roc_auc(y, proba).value


def test_cluster_replicate_auc_is_the_auc_of_the_repeated_sample():
    from custom.evaluation.metrics import _WeightedAUC

    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=30), 1)  # ties
    labels = np.arange(30) % 3 == 0
    weights = rng.integers(0, 4, (20, 30))
    auc, valid = _WeightedAUC(scores, labels)(weights)
    for row, w in enumerate(weights):
        repeated = np.repeat(np.arange(30), w)
        if np.unique(labels[repeated]).size < 2:
            assert not valid[row] and np.isnan(auc[row])
        else:
            assert valid[row] and auc[row] == pytest.approx(roc_auc_score(labels[repeated], scores[repeated]))


def test_cluster_bootstrap_redraws_replicates_that_lack_a_class():
    # the only positive patient is missing from ~37% of the replicates: they are redrawn, not counted
    labels = np.r_[np.ones(3), np.zeros(27)]
    scores = np.r_[[0.9, 0.8, 0.7], np.linspace(0, 0.75, 27)]
    groups = np.repeat(np.arange(10), 3)
    result = roc_auc(labels, scores, groups=groups, n_bootstrap=200)
    assert 0 <= result.ci_low <= result.value <= result.ci_high <= 1
    with pytest.raises(ValueError, match="one entry per sample"):
        roc_auc(labels, scores, groups=groups[:-1])
    # nine classes carried by one patient each: a replicate holds all of them with probability ~0.63**9,
    # too rarely for a meaningful interval, so a clear error instead of a long loop
    groups = np.repeat(np.arange(20), 4)
    labels = np.where(groups < 10, groups, 0)
    with pytest.raises(ValueError, match="too few clusters"):
        macro_roc_auc(labels, np.random.default_rng(0).dirichlet(np.ones(10), 80), groups=groups, n_bootstrap=50)


def _grouped_data(separable: bool, n_patients=40, per_patient=6, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"p{i:03d}" for i in range(n_patients)], per_patient)
    labels = rng.integers(0, 2, groups.size)
    embeddings = rng.normal(size=(groups.size, dim))
    if separable:
        embeddings[:, 0] += 4.0 * labels
    return embeddings, labels, groups


def test_probe_on_separable_embeddings():
    result = LinearProbe().cross_validate(*_grouped_data(separable=True))
    assert result.metric_name == "roc_auc"
    assert result.metric.value > 0.97
    assert result.oof_proba.shape == (240, 2)


def test_probe_on_random_embeddings_is_chance():
    result = LinearProbe().cross_validate(*_grouped_data(separable=False))
    assert abs(result.metric.value - 0.5) < 0.1
    assert result.metric.ci_low < 0.5 < result.metric.ci_high


def test_probe_ci_comes_from_refitted_patient_resamples():
    embeddings, labels, groups = _grouped_data(separable=False)
    result = LinearProbe().cross_validate(embeddings, labels, groups, n_bootstrap=100)
    # the estimate: AUC over the pairs that share a fold, i.e. of one fold's model on its own patients
    assert result.metric.value == pytest.approx(within_fold_auc(labels == 1, result.oof_proba[:, 1], result.folds))
    # the interval: estimate +- 1.96 standard deviations of 100 refitted cross-validations
    assert result.replicates.shape == (100,) and np.unique(result.replicates).size > 90
    half = 1.959964 * result.replicates.std(ddof=1)
    assert (result.metric.ci_low, result.metric.ci_high) == pytest.approx((result.metric.value - half, result.metric.value + half))
    again = LinearProbe().cross_validate(embeddings, labels, groups, n_bootstrap=100)
    assert again.metric == result.metric and again.plan == result.plan
    assert LinearProbe().cross_validate(embeddings, labels, groups, n_bootstrap=100, seed=1).metric != result.metric


def test_grouped_folds_never_share_a_patient():
    embeddings, labels, groups = _grouped_data(separable=True)
    result = LinearProbe().cross_validate(embeddings, labels, groups, n_splits=5, seed=3)
    assert set(result.folds) == set(range(5))
    for patient in np.unique(groups):
        assert np.unique(result.folds[groups == patient]).size == 1


def test_probe_multiclass_uses_macro_auc():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), 8)
    labels = rng.integers(0, 3, groups.size)
    embeddings = rng.normal(size=(groups.size, 8)) + 3 * np.eye(3, 8)[labels]
    result = LinearProbe().cross_validate(embeddings, labels, groups)
    assert result.metric_name == "macro_roc_auc" and result.metric.value > 0.9
    np.testing.assert_allclose(result.oof_proba.sum(axis=1), 1.0)


def test_probe_errors():
    embeddings, labels, groups = _grouped_data(separable=True, n_patients=4)
    with pytest.raises(ValueError, match="patients"):
        LinearProbe().cross_validate(embeddings, labels, groups, n_splits=5)
    with pytest.raises(ValueError, match="two classes"):
        LinearProbe().cross_validate(embeddings, np.zeros_like(labels), groups, n_splits=2)


PATCH = 16


def _patches(n_patients=24, seed=0):
    """Half normal, half abnormal patches (a bright square); abnormal ones carry BI-RADS 3-5, pathology unknown."""
    rng = np.random.default_rng(seed)
    per_patient = 6
    n = n_patients * per_patient
    abnormal = np.tile([0, 0, 0, 1, 1, 1], n_patients)
    image = rng.normal(0, 0.2, (n, 1, PATCH, PATCH)).astype(np.float32)
    image[abnormal == 1, :, 4:12, 4:12] += 2.0
    birads = np.where(abnormal == 1, rng.integers(3, 6, n), 1)
    return {
        "image": image,
        "abnormal": abnormal,
        "birads": birads,
        "malignant": np.full(n, -1),
        "patient_id": np.repeat([f"patient{i}" for i in range(n_patients)], per_patient),
    }


def _encoder():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(PATCH * PATCH, 8), nn.BatchNorm1d(8))


def test_embed_patches_freezes_and_restores_mode():
    encoder = _encoder().train()
    data = _patches()
    samples = [{key: value[i] for key, value in data.items()} for i in range(len(data["image"]))]
    table = embed_patches(encoder, DataLoader(samples, batch_size=32), progress=False)
    assert encoder.training, "the encoder's mode must be restored"
    assert table["embedding"].shape == (144, 8) and table["embedding"].dtype == np.float32
    assert table["patient_id"][0] == "patient0"
    from_arrays = embed_patches(encoder, data, batch_size=50, progress=False)
    np.testing.assert_allclose(from_arrays["embedding"], table["embedding"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(from_arrays["birads"], data["birads"])


def test_evaluate_encoder_writes_the_report(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="custom.evaluation.probe_tasks"):
        report = evaluate_encoder(_encoder(), _patches(), tmp_path, batch_size=40, progress=False, n_bootstrap=200)
    assert report["tasks"]["abnormal"]["value"] > 0.95
    assert report["tasks"]["abnormal"]["n_patients"] == 24
    assert report["settings"]["bootstrap_unit"] == "patient"
    assert report["tasks"]["birads"]["metric"] == "macro_roc_auc"
    assert report["tasks"]["birads"]["classes"] == [1, 3, 4, 5]
    assert "malignant" in report["skipped"] and "malignant" in caplog.text
    assert json.loads((tmp_path / "metrics.json").read_text()) == report
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["task", "metric", "value", "ci_low", "ci_high", "n", "n_patients"]
    assert [row["task"] for row in rows] == ["abnormal", "birads"]
    assert (tmp_path / "roc_abnormal.png").stat().st_size > 0
    assert (tmp_path / "roc_birads.png").stat().st_size > 0
    assert not (tmp_path / "roc_malignant.png").exists()


def test_tasks_skip_with_a_reason(tmp_path):
    data = _patches(n_patients=4)
    table = {key: value for key, value in data.items() if key != "image"}
    table["embedding"] = data["image"].reshape(len(data["image"]), -1)
    table["malignant"] = np.where(data["abnormal"] == 1, 1, -1)  # all abnormal patches malignant: one class
    report = run_probe_tasks(table, tmp_path, ("abnormal", "malignant"), n_splits=5)
    assert report["tasks"] == {}
    assert "needs >= 5 patients" in report["skipped"]["abnormal"]
    assert "two classes" in report["skipped"]["malignant"]
    with pytest.raises(ValueError, match="unknown tasks"):
        run_probe_tasks(table, tmp_path, ("density",))
