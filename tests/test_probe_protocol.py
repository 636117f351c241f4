"""The probe protocol's options: shrinkage by nested cross-validation, batch-norm statistics re-estimated on
clean patches, and the evaluator applying them to every encoder alike."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from custom.evaluation import SHRINKAGE_GRID, LinearProbe, LinearProbeEvaluator, paired_auc_difference
from custom.evaluation.batchnorm import recalibrated_batchnorm


def _signal_in_low_variance_directions(seed=0, patients=60, per_patient=8, dim=40, strong=6):
    """Features whose variance lies almost all in ``strong`` random directions, with the lesion signal in a weak
    direction orthogonal to them: the case where shrinking towards the diagonal damps the signal away
    (docs/statistics.md, "Known limit")."""
    rng = np.random.default_rng(seed)
    n = patients * per_patient
    labels = np.tile([1, 0, 0, 0], n // 4)
    latent = rng.normal(size=(n, dim))
    latent[:, :strong] *= 30.0
    latent[:, strong] += 1.2 * labels  # a weak direction carries the signal
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    groups = np.repeat([f"p{p:03d}" for p in range(patients)], per_patient)
    return latent @ rotation, labels, groups


def test_nested_shrinkage_finds_signal_that_fixed_shrinkage_damps():
    features, labels, groups = _signal_in_low_variance_directions()
    fixed = LinearProbe().cross_validate(features, labels, groups, n_bootstrap=30, seed=0)
    nested = LinearProbe(SHRINKAGE_GRID).cross_validate(features, labels, groups, n_bootstrap=30, seed=0)
    # the grid's smallest value is chosen in every outer fold, and it recovers the signal
    assert nested.shrinkage == (0.01,) * 5
    assert fixed.shrinkage == (0.1,) * 5
    assert nested.metric.value > fixed.metric.value + 0.08
    # same patients, seed and folds: the two probes' replicates are paired, and the gain is beyond noise
    difference = paired_auc_difference(nested, fixed)
    assert difference.ci_low > 0


def test_nested_shrinkage_keeps_heavy_shrinkage_for_few_samples_in_many_dimensions():
    """With fewer patches than dimensions and an ordinary signal, an unshrunk covariance overfits; the inner
    cross-validation must not choose the smallest value."""
    rng = np.random.default_rng(1)
    patients, per_patient, dim = 30, 4, 200
    labels = np.tile([1, 0], patients * per_patient // 2)
    features = rng.normal(size=(labels.size, dim))
    features[:, 0] += 1.5 * labels
    groups = np.repeat([f"p{p:02d}" for p in range(patients)], per_patient)
    nested = LinearProbe(SHRINKAGE_GRID).cross_validate(features, labels, groups, n_bootstrap=20, seed=0)
    assert min(nested.shrinkage) >= 0.1
    assert nested.metric.value > 0.7


def test_fit_with_a_grid_chooses_by_grouped_cross_validation():
    features, labels, groups = _signal_in_low_variance_directions(seed=2)
    with pytest.raises(ValueError, match="needs groups"):
        LinearProbe(SHRINKAGE_GRID).fit(features, labels)
    probe = LinearProbe(SHRINKAGE_GRID).fit(features, labels, groups=groups)
    assert probe.shrinkage_ == 0.01
    assert LinearProbe(0.3).fit(features, labels).shrinkage_ == 0.3
    with pytest.raises(ValueError, match="shrinkage must lie in"):
        LinearProbe((0.1, 0.0)).fit(features, labels, groups=groups)


class _ConvNorm(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.norm(self.conv(x)).mean(dim=(2, 3))


def _batches(seed=0, n=4, size=8):
    generator = torch.Generator().manual_seed(seed)
    return [{"image": 2.0 + 3.0 * torch.rand(size, 1, 6, 6, generator=generator)} for _ in range(n)]


def test_recalibrated_batchnorm_averages_the_clean_batches_and_leaves_the_encoder_alone():
    encoder = _ConvNorm().eval()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    batches = _batches()
    copy = recalibrated_batchnorm(encoder, batches)

    assert not copy.training
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} of the original encoder changed"
    with torch.no_grad():
        outputs = [encoder.conv(b["image"]) for b in batches]
    # equal-size batches: the cumulative average of the batch means is the mean over every pixel of every batch
    expected_mean = torch.stack([o.mean(dim=(0, 2, 3)) for o in outputs]).mean(dim=0)
    expected_var = torch.stack([o.var(dim=(0, 2, 3), unbiased=True) for o in outputs]).mean(dim=0)
    assert torch.allclose(copy.norm.running_mean, expected_mean, atol=1e-5)
    assert torch.allclose(copy.norm.running_var, expected_var, atol=1e-4)
    assert copy.norm.momentum == encoder.norm.momentum
    assert copy.norm.num_batches_tracked.item() == len(batches)
    # the identity statistics of a fresh encoder leave the conv outputs' offset in; the recalibrated ones remove it
    with torch.no_grad():
        probe = batches[0]["image"]
        assert copy(probe).abs().mean() < encoder(probe).abs().mean()


def test_recalibrated_batchnorm_needs_images_and_passes_networks_without_batchnorm():
    with pytest.raises(ValueError, match="needs images"):
        recalibrated_batchnorm(_ConvNorm(), [])
    plain = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))
    copy = recalibrated_batchnorm(plain, [])
    assert copy is not plain and torch.equal(copy[1].weight, plain[1].weight)


def _labelled(seed=0, patients=12, per_patient=4):
    rng = np.random.default_rng(seed)
    items = []
    for p in range(patients):
        for k in range(per_patient):
            abnormal = int(k < 2)
            image = torch.from_numpy((2.0 + rng.random((1, 6, 6)) + abnormal).astype(np.float32))
            items.append({"image": image, "abnormal": abnormal, "birads": -1, "malignant": -1,
                          "patient_id": f"patient{p:02d}"})
    return items


def test_evaluator_probes_every_encoder_with_recalibrated_statistics(tmp_path):
    encoders = {"a": _ConvNorm().eval(), "b": _ConvNorm().eval()}
    encoders["b"].norm.running_mean.fill_(5.0)  # statistics of other data
    clean = _batches(seed=3)
    evaluator = LinearProbeEvaluator(device="cpu", val_data_loader=DataLoader(_labelled(), batch_size=16),
                                     encoders=encoders, output_dir=tmp_path, n_bootstrap=10, tasks=("abnormal",),
                                     min_samples_per_class=2, reference="a", batchnorm_images=clean)
    evaluator.run()
    expected = recalibrated_batchnorm(encoders["a"], clean).norm.running_mean
    for name in ("a", "b"):
        assert torch.allclose(evaluator._probed[name].norm.running_mean, expected, atol=1e-6)
    assert encoders["b"].norm.running_mean.eq(5.0).all(), "the encoders themselves keep their statistics"
    rows = {row["encoder"]: row for row in evaluator.results}
    # same weights, same re-estimated statistics: the two encoders are one, whatever they carried before
    assert rows["a"]["value"] == pytest.approx(rows["b"]["value"])


def test_replicates_refit_at_the_most_chosen_shrinkage_unless_reselecting():
    features, labels, groups = _signal_in_low_variance_directions(seed=3)
    nested = LinearProbe(SHRINKAGE_GRID).cross_validate(features, labels, groups, n_bootstrap=20, seed=0)
    fixed = LinearProbe(max(set(nested.shrinkage), key=nested.shrinkage.count)).cross_validate(
        features, labels, groups, n_bootstrap=20, seed=0)
    np.testing.assert_array_equal(nested.replicates, fixed.replicates)  # same resamples, same value
    reselected = LinearProbe(SHRINKAGE_GRID, reselect=True).cross_validate(features, labels, groups, n_bootstrap=20,
                                                                          seed=0)
    assert reselected.metric.value == nested.metric.value  # the estimate is nested either way
    assert reselected.plan == nested.plan
