"""Shared fixtures: one small synthetic VinDr-layout data set per test session."""

from __future__ import annotations

import pytest

from custom.mammography.data.synthetic import generate_vindr_like

SYNTHETIC_STUDIES = 16
SYNTHETIC_SEED = 3


@pytest.fixture(scope="session")
def synthetic_vindr(tmp_path_factory):
    """A read-only synthetic VinDr-layout data set (test preset); tests copy it before changing anything."""
    root = tmp_path_factory.mktemp("synthetic_vindr")
    generate_vindr_like(root, studies=SYNTHETIC_STUDIES, seed=SYNTHETIC_SEED, preset="test")
    return root


@pytest.fixture(scope="session", autouse=True)
def tiny_benchmark(tmp_path_factory):
    """Tests never touch the user's benchmark folder, and their evaluation set is a few test-size studies:
    the real one (500 studies at full size) takes minutes to generate. Subprocesses see the folder (by the
    environment) but not the tiny size: bundle runs in a subprocess pass ``--probe_benchmark False``."""
    from custom.mammography.data.synthetic import benchmark

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(benchmark.BENCHMARK_DIR_VARIABLE, str(tmp_path_factory.mktemp("benchmark")))
        patch.setattr(benchmark, "EVALUATION_SET", benchmark.SyntheticSet("evaluation_tiny", 14, 99, 1.0, 0.7, "test"))
        yield
