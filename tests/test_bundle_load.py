"""``monai.bundle.load``, as a model-zoo user calls it, returns the trained encoder with every weight loaded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from monai.bundle import load

from custom.networks import seeded_encoder

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "mammo_siamese_softlabel"


@pytest.fixture(scope="module")
def bundle_with_weights(tmp_path_factory) -> tuple[Path, dict]:
    """A copy of the bundle whose ``models/model.pt`` holds an encoder that no config seed builds."""
    root = tmp_path_factory.mktemp("zoo")
    shutil.copytree(BUNDLE, root / BUNDLE.name, ignore=shutil.ignore_patterns("models", "eval", "logs", "data"))
    weights = seeded_encoder(12345, normalize=True).state_dict()
    (root / BUNDLE.name / "models").mkdir()
    torch.save(weights, root / BUNDLE.name / "models" / "model.pt")
    return root, weights


@pytest.mark.parametrize("workflow_type", ["train", "inference"])
def test_load_returns_the_encoder_with_every_weight(bundle_with_weights, workflow_type):
    root, weights = bundle_with_weights
    network = load(BUNDLE.name, bundle_dir=str(root), workflow_type=workflow_type, device="cpu", progress=False)
    state = network.state_dict()
    assert set(state) == set(weights), "the config's network_def is not the network that model.pt holds"
    for key, value in weights.items():
        torch.testing.assert_close(state[key], value, msg=f"{key} was not loaded")
