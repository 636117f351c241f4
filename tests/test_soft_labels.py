"""GMM soft labeller: recovery of known components, component order, monotonicity, pinning, fallbacks."""

import logging

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture

from custom.labelling import GMMSoftLabeller, weak_label_targets

LOW, HIGH = (1.0, 0.1), (3.0, 0.3)  # (mean, std) of "same" and "different" pair distances


@pytest.fixture(scope="module")
def distances():
    rng = np.random.default_rng(0)
    return np.r_[rng.normal(*LOW, 900), rng.normal(*HIGH, 100)]


def test_recovers_two_known_components(distances):
    labeller = GMMSoftLabeller().fit(distances)
    assert labeller.fallback_ is None
    high, low = labeller.high_component_, 1 - labeller.high_component_
    assert labeller.means_[low] == pytest.approx(LOW[0], rel=0.1)
    assert labeller.means_[high] == pytest.approx(HIGH[0], rel=0.1)
    assert np.sqrt(labeller.variances_[high]) == pytest.approx(HIGH[1], rel=0.2)
    assert labeller.weights_[high] == pytest.approx(0.1, abs=0.02)
    proba = labeller.predict_proba([0.8, 1.0, 1.2, 2.8, 3.0, 3.5])
    assert (proba[:3] < 0.01).all() and (proba[3:] > 0.99).all()
    assert ((0 <= proba) & (proba <= 1)).all()


def test_components_do_not_depend_on_the_order_of_the_distances(distances):
    probe = np.linspace(0, 5, 41)
    forward = GMMSoftLabeller().fit(distances)
    backward = GMMSoftLabeller().fit(distances[::-1].copy())
    assert forward.means_[forward.high_component_] == forward.means_.max()
    np.testing.assert_allclose(forward.predict_proba(probe), backward.predict_proba(probe), atol=1e-9)


def test_histogram_em_agrees_with_scikit_learn(distances):
    """The fast EM finds the parameters scikit-learn's GaussianMixture finds on the samples."""
    ours = GMMSoftLabeller().fit(distances)
    reference = GaussianMixture(n_components=2, n_init=3, random_state=0).fit(distances[:, None])
    order = np.argsort(reference.means_.ravel())
    np.testing.assert_allclose(np.sort(ours.means_), reference.means_.ravel()[order], rtol=0.01)
    np.testing.assert_allclose(ours.variances_[np.argsort(ours.means_)], reference.covariances_.ravel()[order],
                               rtol=0.05)
    np.testing.assert_allclose(ours.weights_[np.argsort(ours.means_)], reference.weights_[order], atol=0.01)


def test_one_gaussian_is_not_split_in_two():
    """BIC: distances from one Gaussian get no two-class labels, and the labeller says it is not trusted."""
    d = np.random.default_rng(3).normal(1.0, 0.2, 20000)
    labeller = GMMSoftLabeller().fit(d)
    assert not labeller.trusted_ and "one Gaussian" in labeller.fallback_
    assert labeller.bic_[0] <= labeller.bic_[1]
    two = np.r_[d, np.random.default_rng(4).normal(2.5, 0.2, 2000)]
    assert GMMSoftLabeller().fit(two).trusted_
    assert GMMSoftLabeller(bic_check=False).fit(d).bic_ is None


def test_posterior_never_decreases_with_distance():
    rng = np.random.default_rng(1)
    d = np.r_[rng.normal(1.0, 0.3, 900), rng.normal(3.0, 0.1, 100)]  # narrow high component
    labeller = GMMSoftLabeller().fit(d)
    far = np.array([10.0])
    raw = labeller.mixture_.posterior((far - labeller.center_) / labeller.scale_)
    assert raw[0, labeller.high_component_] < 0.01, "the raw GMM hands the far tail back to the wide component"
    proba = labeller.predict_proba(np.linspace(-1, 20, 500))
    assert (np.diff(proba) >= -1e-12).all()
    assert labeller.predict_proba(far)[0] > 0.99


def test_pinning_normal_pairs(distances):
    weak = np.where(np.arange(distances.size) % 2 == 0, 0, -1)
    labeller = GMMSoftLabeller().fit(distances, weak)
    proba = labeller.predict_proba(distances, weak)
    assert (proba[weak == 0] == 0).all()
    np.testing.assert_array_equal(proba[weak == -1], labeller.predict_proba(distances)[weak == -1])
    unpinned = clone(labeller).set_params(pin_normal=False).fit(distances).predict_proba(distances, weak)
    assert unpinned[weak == 0].max() > 0.99


def test_accepts_grad_tracking_tensors(distances):
    d = torch.tensor(distances, requires_grad=True)
    proba = GMMSoftLabeller().fit(d).predict_proba(d, torch.full((d.numel(),), -1))
    assert proba.shape == (distances.size,)


def test_input_errors(distances):
    labeller = GMMSoftLabeller()
    with pytest.raises(NotFittedError):
        labeller.predict_proba(distances)
    with pytest.raises(ValueError, match="weak labels must be"):
        labeller.fit(distances, np.full(distances.size, 2))
    with pytest.raises(ValueError, match="entries for"):
        labeller.fit(distances, np.zeros(3))
    with pytest.raises(ValueError, match="1-D"):
        labeller.fit(distances.reshape(-1, 2))


def _fit_with_warning(caplog, values, match):
    with caplog.at_level(logging.WARNING, logger="custom.labelling.gmm"):
        labeller = GMMSoftLabeller().fit(np.asarray(values, dtype=float))
    assert labeller.fallback_ is not None and match in labeller.fallback_
    assert any(match in record.getMessage() for record in caplog.records)
    return labeller


def test_all_equal_distances_fall_back_to_one_half(caplog):
    labeller = _fit_with_warning(caplog, np.full(50, 0.7), "equal")
    np.testing.assert_array_equal(labeller.predict_proba([0.0, 0.7, 9.0]), [0.5, 0.5, 0.5])


def test_no_finite_distance_falls_back_to_one_half(caplog):
    labeller = _fit_with_warning(caplog, [np.nan, np.inf, -np.inf], "no finite")
    np.testing.assert_array_equal(labeller.predict_proba([1.0, 2.0]), [0.5, 0.5])


def test_too_few_distances_fall_back_to_min_max(caplog):
    labeller = _fit_with_warning(caplog, [1.0, 2.0, 3.0, 5.0], "min_samples")
    np.testing.assert_allclose(labeller.predict_proba([0.0, 1.0, 2.0, 5.0, 7.0]), [0.0, 0.0, 0.25, 1.0, 1.0])


def test_collapsed_components_fall_back_to_min_max(caplog):
    # Laplace-distributed distances: the mixture fits two components with (almost) the same mean
    d = np.random.default_rng(0).laplace(1.0, 0.1, 2000)
    labeller = _fit_with_warning(caplog, d, "collapsed")
    low, high = d.min(), d.max()
    np.testing.assert_allclose(labeller.predict_proba([low, high, (low + high) / 2]), [0.0, 1.0, 0.5])


def test_vanishing_component_weight_falls_back(caplog):
    d = np.r_[np.random.default_rng(0).normal(1.0, 0.1, 1999), [100.0]]  # one outlier gets its own component
    labeller = _fit_with_warning(caplog, d, "weight")
    assert labeller.predict_proba([100.0])[0] == 1.0


def test_non_finite_values_are_dropped_with_a_warning(caplog, distances):
    noisy = np.r_[distances, [np.nan, np.inf]]
    with caplog.at_level(logging.WARNING, logger="custom.labelling.gmm"):
        labeller = GMMSoftLabeller().fit(noisy)
        proba = labeller.predict_proba(noisy)
    assert labeller.fallback_ is None and labeller.n_samples_fit_ == distances.size
    assert "dropped 2 non-finite" in caplog.text and "get soft label 0.5" in caplog.text
    np.testing.assert_array_equal(proba[-2:], [0.5, 0.5])


def test_weak_label_targets():
    np.testing.assert_array_equal(weak_label_targets([0, -1, 0]), [0.0, 0.5, 0.0])
    np.testing.assert_array_equal(weak_label_targets(np.array([-1, 0]), unknown_prior=0.2), [0.2, 0.0])
    with pytest.raises(ValueError, match="unknown_prior"):
        weak_label_targets([0], unknown_prior=1.5)
    with pytest.raises(ValueError, match="weak labels must be"):
        weak_label_targets([1])
