"""Shared fixtures: one small synthetic VinDr-layout data set per test session."""

from __future__ import annotations

import pytest

from custom.data.synthetic import generate_vindr_like

SYNTHETIC_STUDIES = 16
SYNTHETIC_SEED = 3


@pytest.fixture(scope="session")
def synthetic_vindr(tmp_path_factory):
    """A read-only synthetic VinDr-layout data set (test preset); tests copy it before changing anything."""
    root = tmp_path_factory.mktemp("synthetic_vindr")
    generate_vindr_like(root, studies=SYNTHETIC_STUDIES, seed=SYNTHETIC_SEED, preset="test")
    return root
