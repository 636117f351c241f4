"""Fixed pair labels, co-teaching and the anti-collapse options of the Siamese training (issue 24 item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow
from torch import nn

from custom.losses import CrossSoftContrastiveLoss, SoftContrastiveLoss, VarianceCovarianceLoss
from custom.mammography.engines import CoTeachingSelection, PairRegulariser, pair_selection
from custom.mammography.engines.fixed_labels import label_quality, oracle_labels, top_k_per_exam
from custom.mammography.engines.pair_scores import aligned_difference
from custom.training import StartingPointDecay

CONFIGS = Path(__file__).resolve().parents[1] / "bundles" / "mammo_siamese_softlabel" / "configs"


def test_top_k_per_exam_with_normal_exams_known():
    #            exam 0 (normal)   exam 1 (candidate)      exam 2 (candidate)
    exams = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    weak = np.array([0, 0, 0, -1, -1, -1, -1, -1, -1, -1])
    scores = np.array([9.0, 8.0, 7.0, 0.1, 2.0, 1.0, -1.0, 0.5, 0.4, 3.0])
    labels, keep = top_k_per_exam(scores, exams, weak, k=1)
    # the normal exam's pairs are negatives however asymmetric they look; each candidate exam gives its top pair
    np.testing.assert_array_equal(keep, [1, 1, 1, 0, 1, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(labels[keep], [0, 0, 0, 1, 1])
    labels, keep = top_k_per_exam(scores, exams, weak, k=2)
    np.testing.assert_array_equal(np.flatnonzero(labels), [4, 5, 7, 9])


def test_top_k_per_exam_without_labels_takes_the_most_symmetric_exams_as_normal():
    exams = np.repeat([0, 1, 2, 3], 3)
    weak = np.full(12, -1)
    scores = np.array([1, 2, 3, 3, 2, 1, 1, 3, 2, 2, 1, 3], dtype=float)
    raw = np.array([0.1, 0.2, 0.3, 0.9, 0.1, 0.1, 0.2, 0.25, 0.1, 0.6, 0.5, 0.7])  # exam peaks 0.3, 0.9, 0.25, 0.7
    labels, keep = top_k_per_exam(scores, exams, weak, k=1, symmetric_exam_share=0.5, raw_scores=raw)
    # exams 0 and 2 have the smallest peaks: all their pairs are negatives; exams 1 and 3 give their top pair
    np.testing.assert_array_equal(keep, [1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1])
    np.testing.assert_array_equal(np.flatnonzero(labels), [3, 11])
    with pytest.raises(ValueError, match="at least 1"):
        top_k_per_exam(scores, exams, weak, k=0)


def test_oracle_labels_have_the_asked_precision_and_recall():
    rng = np.random.default_rng(0)
    truth = np.zeros(400, dtype=int)
    truth[rng.choice(200, 40, replace=False) + 200] = 1  # lesions only in candidate exams (pairs 200-399)
    weak = np.r_[np.zeros(200, dtype=int), -np.ones(200, dtype=int)]
    labels, keep = oracle_labels(truth, weak, precision=0.5, recall=0.75, seed=1)
    quality = label_quality(labels, keep, truth)
    assert quality.true_positives == 30 and quality.positives == 60
    assert quality.precision == 0.5 and quality.recall == 0.75
    assert quality.negatives == 200 and quality.negatives_holding_a_lesion == 0
    with pytest.raises(ValueError, match="needs"):
        oracle_labels(truth, weak, precision=0.1, recall=1.0)


def test_aligned_difference_is_the_percentile_of_the_pixel_difference():
    patches = np.zeros((2, 2, 10, 10), dtype=np.float16)
    patches[1, 0, :1, :2] = 1.0  # 2 of 100 pixels differ by 1: the 99th percentile sees them
    np.testing.assert_allclose(aligned_difference(patches), [0.0, 1.0])


def test_coteaching_keeps_the_peer_chosen_easy_positives():
    selection = CoTeachingSelection(final_share=0.5, ramp_epochs=3)
    assert [selection.keep_share(e) for e in (1, 2, 3, 9)] == [1.0, 0.75, 0.5, 0.5]
    labels = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    # positives want distance >= 1: under network A pairs 0 and 1 are already far (small loss), under B pairs 2, 3
    distance_a = torch.tensor([1.2, 1.1, 0.1, 0.2, 0.5, 0.5])
    distance_b = torch.tensor([0.1, 0.2, 1.3, 1.1, 0.5, 0.5])
    weight_a, weight_b = selection(3, distance_a, distance_b, labels, labels)
    np.testing.assert_array_equal(weight_b.numpy(), [1, 1, 0, 0, 1, 1])  # A chose its easy pairs for B
    np.testing.assert_array_equal(weight_a.numpy(), [0, 0, 1, 1, 1, 1])
    assert pair_selection("none") is None
    with pytest.raises(ValueError, match="selection must be one of"):
        pair_selection("coteching")


def test_weighted_cross_loss_is_the_weighted_mean_of_each_term():
    loss = CrossSoftContrastiveLoss(margin=1.0)
    d_a, d_b = torch.tensor([0.2, 0.9, 0.4]), torch.tensor([0.5, 0.1, 0.7])
    y_a, y_b = torch.tensor([0.0, 1.0, 0.5]), torch.tensor([1.0, 0.0, 0.5])
    w_a, w_b = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.0, 1.0, 1.0])
    per = SoftContrastiveLoss(1.0, reduction="none")
    expected = (per(d_a, y_b) * w_a).sum() / 2 + (per(d_b, y_a) * w_b).sum() / 2
    assert torch.allclose(loss(d_a, d_b, y_a, y_b, weight_a=w_a, weight_b=w_b), expected)
    assert torch.allclose(loss(d_a, d_b, y_a, y_b, weight_a=torch.ones(3), weight_b=torch.ones(3)),
                          loss(d_a, d_b, y_a, y_b))


def test_variance_covariance_loss_penalises_collapse_and_correlation():
    loss = VarianceCovarianceLoss(target_std=1.0, variance_weight=1.0, covariance_weight=1.0, eps=0.0)
    generator = torch.Generator().manual_seed(0)
    spread = torch.randn(4096, 8, generator=generator) * 2.0  # std 2 > target, decorrelated
    # only sampling noise is left: off-diagonal covariances of about 4 / sqrt(4096), squared, 56 of them, / 8
    assert loss(spread).item() < 0.06
    collapsed = torch.ones(16, 8)
    assert loss(collapsed).item() == pytest.approx(1.0)  # every feature's spread 0: relu(1 - 0) per feature
    column = torch.randn(4096, 1, generator=generator) * 2.0
    correlated = column.repeat(1, 2)  # two identical features of variance 4: off-diagonal 4 twice, / D = 2
    assert loss(correlated).item() == pytest.approx(16.0, rel=0.1)
    features = torch.randn(12, 5, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: VarianceCovarianceLoss()(x), (features,))
    with pytest.raises(ValueError, match="N >= 2"):
        loss(torch.ones(1, 3))


def test_starting_point_decay_pulls_each_weight_back_by_its_rate():
    network = nn.Linear(3, 2)
    decay = StartingPointDecay(network, rate=0.25)
    start = network.weight.detach().clone()
    with torch.no_grad():
        network.weight.add_(4.0)
    decay(network)
    assert torch.allclose(network.weight, start + 3.0)
    assert decay.distance(network) == pytest.approx((3.0**2 * 6 / 8) ** 0.5)
    with pytest.raises(ValueError, match="rate"):
        StartingPointDecay(network, rate=1.5)
    with pytest.raises(ValueError, match="regulariser must be one of"):
        PairRegulariser("vicrg")
    with pytest.raises(ValueError, match="needs the network"):
        PairRegulariser("l2sp", 0.1)


def _train(tmp_path, data, **overrides):
    workflow = ConfigWorkflow(config_file=str(CONFIGS / "train.json"), meta_file=str(CONFIGS / "metadata.json"),
                              logging_file=str(CONFIGS / "logging.conf"), workflow_type="train", run_id="training",
                              bundle_root=str(tmp_path), dataset_dir=str(data), pairs_per_exam=4, batch_size=8,
                              calibrate_detector=False, monitor_embedding=False, **overrides)
    workflow.initialize()
    workflow.run()
    parsed = workflow.parser.get_parsed_content
    dataset, bank = parsed("train#dataset"), parsed("train#bank")
    workflow.finalize()
    return dataset, bank


def test_training_with_fixed_positives_l2sp_and_coteaching(tmp_path, synthetic_vindr):
    dataset, bank = _train(tmp_path, synthetic_vindr, max_epochs=2, positives="top_k_per_exam", positives_per_exam=1,
                           regulariser="l2sp", regulariser_weight=0.05, selection="coteaching", coteaching_epochs=2)
    record = json.loads((tmp_path / "logs" / "fixed_labels.json").read_text())
    assert record["option"] == "top_k_per_exam" and record["pairs_kept"] == len(dataset)
    # one positive per exam not known normal; those exams' other pairs are left out of training
    candidate_exams = np.unique(dataset.exam_indices[dataset.weak_labels != 0])
    assert int(dataset.fixed_targets.sum()) == candidate_exams.size == record["positives"]
    # fixed: no refresh during training replaced them (the last refresh only records statistics)
    assert (tmp_path / "models" / "model.pt").exists()
    np.testing.assert_array_equal(np.unique(bank.from_a[dataset.weak_labels == 0]), [0.0])


def test_training_with_oracle_labels_of_a_chosen_precision(tmp_path, synthetic_vindr):
    dataset, _ = _train(tmp_path, synthetic_vindr, max_epochs=1, positives="oracle", oracle_precision=0.5,
                        oracle_recall=0.5, sampling="uniform", candidate_pairs_per_exam=8)
    record = json.loads((tmp_path / "logs" / "fixed_labels.json").read_text())
    assert record["option"] == "oracle"
    assert record["precision"] == pytest.approx(0.5, abs=0.05) and record["recall"] == pytest.approx(0.5, abs=0.05)
    assert int(dataset.fixed_targets.sum()) == record["positives"]
