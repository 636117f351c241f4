"""The benchmark calibration: its measurements on hand-made inputs, the frozen generator, the command's files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from custom.mammography.calibration import run as calibration_run
from custom.mammography.calibration.texture import spectrum_slope
from custom.mammography.data.synthetic.benchmark import SyntheticSet
from custom.mammography.data.synthetic.fingerprint import fingerprint_differences, generator_fingerprint
from custom.mammography.data.synthetic.texture import coarse_share, power_law_field
from custom.mammography.data.synthetic.vindr import SYNTHETIC_VERSION
from custom.mammography.detection.subtraction import BilateralSubtraction

FROZEN = Path(__file__).resolve().parents[1] / "docs" / "calibration.json"



@pytest.mark.parametrize("beta", [2.0, 3.0, 3.5])
def test_spectrum_slope_recovers_the_exponent_of_a_power_law_field(beta):
    field = power_law_field((512, 512), 0.25, np.random.default_rng(0), beta=beta, largest_mm=1000.0)
    slopes = [spectrum_slope(field[y:y + 128, x:x + 128].astype(np.float64), 0.25)
              for y in (0, 192, 384) for x in (0, 192, 384)]
    assert abs(np.mean(slopes) - beta) < 0.1


def test_coarse_and_fine_bands_add_up_to_the_full_spectrum():
    shape, spacing = (256, 256), 0.5
    share = coarse_share(shape, spacing, crossover_mm=25.0)
    assert 0.3 < share < 0.9
    coarse = power_law_field(shape, spacing, np.random.default_rng(1), band="coarse", crossover_mm=25.0)
    fine = power_law_field(shape, spacing, np.random.default_rng(2), band="fine", crossover_mm=25.0)
    mixed = np.sqrt(share) * coarse + np.sqrt(1 - share) * fine
    slopes = [spectrum_slope(mixed[y:y + 64, x:x + 64].astype(np.float64), spacing, band=(0.05, 0.6))
              for y in (0, 96, 192) for x in (0, 96, 192)]
    assert abs(np.mean(slopes) - 3.0) < 0.35
    with pytest.raises(ValueError, match="band"):
        power_law_field(shape, spacing, np.random.default_rng(0), band="middle")


def _exam_stack(denser_side: int) -> np.ndarray:
    """Two identical smooth breasts, one with a 10 mm bright disc at (60, 50) (0.5 mm pixels)."""
    rng = np.random.default_rng(0)
    tissue = np.clip(0.4 + 0.02 * rng.standard_normal((120, 100)), 0, 1).astype(np.float32)
    stack = np.stack([tissue, tissue.copy(), np.ones_like(tissue), np.ones_like(tissue)])
    yy, xx = np.mgrid[:120, :100]
    stack[denser_side][(yy - 60) ** 2 + (xx - 50) ** 2 <= 100] += 0.3
    return stack


class _Exam:
    key, study_id, view, geometry = "s_CC", "s", "CC", {}

    def __init__(self, stack):
        self.stack = stack

    def load(self):
        return self.stack


@pytest.mark.parametrize("denser_side, side", [(0, "L"), (1, "R")])
def test_bilateral_subtraction_puts_the_top_candidate_on_the_denser_breast(denser_side, side):
    detection = BilateralSubtraction(spacing_mm=0.5).predict_exam(_Exam(_exam_stack(denser_side)))
    best = detection.candidates[0]
    assert best.side == side
    x0, y0, x1, y1 = best.box
    assert x0 <= 50 <= x1 and y0 <= 60 <= y1
    assert detection.score == pytest.approx(best.score) and best.score > 0.1
    other = "R" if side == "L" else "L"
    assert detection.heatmaps[other].max() < 0.2 * best.score


def test_the_generator_is_the_frozen_version():
    """Any change to what the generator draws needs a new SYNTHETIC_VERSION and a re-run of the calibration."""
    frozen = json.loads(FROZEN.read_text())
    assert frozen["synthetic_version"] == SYNTHETIC_VERSION
    assert all(frozen["in_range"].values()), frozen["in_range"]
    problems = fingerprint_differences(frozen["generator_fingerprint"], generator_fingerprint())
    assert not problems, (
        "the synthetic generator draws something else than the frozen version "
        f"{SYNTHETIC_VERSION}: bump SYNTHETIC_VERSION, re-run `python -m custom calibrate` and every result.\n"
        + "\n".join(problems[:4])
    )


def test_calibrate_writes_its_figures_on_a_tiny_benchmark(tmp_path, monkeypatch):
    monkeypatch.setattr(calibration_run, "EVALUATION_SET", SyntheticSet("evaluation", 16, 5, 1.0, 0.7, "test"))
    monkeypatch.setattr(calibration_run, "CALIBRATION_TRAIN_SET", SyntheticSet("calibration_train", 12, 6, 0.0, 0.7,
                                                                               "test"))
    result = calibration_run.calibrate(str(tmp_path / "benchmark"), str(tmp_path / "out"), epochs=1,
                                       texture_studies=4, n_bootstrap=50, workers=0)
    written = json.loads((tmp_path / "out" / "calibration.json").read_text())
    for key in calibration_run.TARGETS:
        assert isinstance(written[key], float) and len(written[f"{key}_ci"]) == 2
        assert written[f"{key}_ci"][0] <= written[key] <= written[f"{key}_ci"][1]
    assert written["synthetic_version"] == SYNTHETIC_VERSION == result["synthetic_version"]
    assert 1.5 < written["texture_beta"] < 4.0 and written["clip_fraction"] < 0.02
    assert written["details"]["supervised"]["training"]["lesion_patches"] > 0
    page = (tmp_path / "out" / "benchmark_calibration.md").read_text()
    assert "supervised_patch_auc" in page and "figures/calibration_exams.png" in page
    assert (tmp_path / "out" / "figures" / "calibration_exams.png").stat().st_size > 10_000
    assert (tmp_path / "benchmark" / f"v{SYNTHETIC_VERSION}" / "evaluation" / "COMPLETE").exists()
