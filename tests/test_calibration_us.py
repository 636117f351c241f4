"""The ultrasound benchmark's calibration: its measurements on hand-made images, the frozen generator, and
``calibrate-us`` end to end on a tiny benchmark."""

from __future__ import annotations

import json

import numpy as np
import pytest

from custom.cli import main
from custom.ultrasound.calibration import run as calibration_run
from custom.ultrasound.calibration.baseline import largest_dark_blob
from custom.ultrasound.calibration.looks import measure_lesion, posterior_class
from custom.ultrasound.runs import FineTuning
from custom.ultrasound.synthetic import benchmark
from custom.ultrasound.synthetic.fingerprint import fingerprint_differences, generator_fingerprint
from custom.ultrasound.synthetic.version import SYNTHETIC_VERSION

TINY = FineTuning(32, 4, steps=2, validations=1, val_fraction=0.25, test_fraction=0.25)  # every code path, seconds


def _disc(shape, center, radius):
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    return (rows - center[0]) ** 2 + (cols - center[1]) ** 2 <= radius ** 2


def test_lesion_measurements_on_a_hand_made_image():
    # 0.1 mm pixels, 51 dB dynamic range: one grey level is 0.2 dB
    image = np.full((200, 200), 120.0)
    exact = _disc(image.shape, (60, 100), 30)  # rows and columns 30-90 and 70-130: 61 px, 6.1 mm
    image[exact] = 90.0  # 30 grey levels darker: -6 dB
    drawn = _disc(image.shape, (61, 100), 30)  # an outline one pixel off
    found = measure_lesion(image, exact, drawn, np.zeros_like(exact), pixel_mm=0.1, dynamic_range_db=51.0)
    assert found["contrast_db"] == pytest.approx(-6.0)
    assert found["posterior_db"] == pytest.approx(0.0) and posterior_class(found["posterior_db"]) == "none"
    assert found["taller_than_wide"] == 0.0 and found["width_mm"] == pytest.approx(6.1)
    assert 0.95 < found["mask_dice"] < 1.0 and 0.3 < found["outline_offset_percent"] < 2.5
    # brighter below the lesion's central half (rows 101-130, columns 85-115) than 2 mm beside it: +4 dB
    image[100:160, 85:116] = 140.0
    found = measure_lesion(image, exact, drawn, np.zeros_like(exact), pixel_mm=0.1, dynamic_range_db=51.0)
    assert found["posterior_db"] == pytest.approx(4.0) and posterior_class(found["posterior_db"]) == "enhancement"


def test_posterior_classes_and_a_lesion_with_no_room_below():
    assert [posterior_class(v) for v in (4.0, -4.0, 1.0, float("nan"))] == ["enhancement", "shadowing", "none", None]
    image = np.full((100, 100), 100.0)
    exact = _disc(image.shape, (94, 50), 5)
    found = measure_lesion(image, exact, exact, np.zeros_like(exact), pixel_mm=0.2, dynamic_range_db=50.0)
    assert np.isnan(found["posterior_db"]) and found["mask_dice"] == 1.0


def test_otsu_baseline_finds_the_largest_dark_blob():
    rng = np.random.default_rng(0)
    image = np.clip(150 + 10 * rng.standard_normal((120, 160)), 0, 255)
    big, small = _disc(image.shape, (60, 50), 20), _disc(image.shape, (30, 130), 6)
    image[big | small] = 40
    blob = largest_dark_blob(image)
    assert 2 * (blob & big).sum() / (blob.sum() + big.sum()) > 0.9 and not (blob & small).any()


def test_a_changed_fingerprint_is_reported():
    stored = generator_fingerprint()
    changed = [list(row) for row in stored]
    changed[1][0] += 1.0  # one image's mean grey level
    changed[3][3] *= 1.2  # one mask's area
    problems = fingerprint_differences(stored, changed)
    assert [p.split(":")[0] for p in problems] == ["image 1", "image 3"]
    assert fingerprint_differences(stored, stored[:-1]) == [f"{len(stored)} images stored, {len(stored) - 1} rendered"]


def test_calibrate_us_writes_its_figures_on_a_tiny_benchmark(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(benchmark, "BENCHMARK_PRESET", "test")
    monkeypatch.setattr(calibration_run, "BENCHMARK_PRESET", "test")
    result = calibration_run.calibrate_us(str(tmp_path / "benchmark"), str(tmp_path / "out"), str(tmp_path / "work"),
                                          workers=1, training=TINY)
    written = json.loads((tmp_path / "out" / "calibration_us.json").read_text())
    assert written["synthetic_version"] == SYNTHETIC_VERSION == result["synthetic_version"]
    looks = written["details"]["looks"]
    for key in calibration_run.TARGETS:
        assert isinstance(written["in_range"][key], bool) and len(written[f"{key}_ci"]) == 2
        if written[key] is None:  # 13 images may hold no lesion of a kind: reported as such, never in range
            assert looks[key]["n"] == 0 and not written["in_range"][key]
            continue
        assert isinstance(written[key], float)
        assert written[f"{key}_ci"][0] <= written[key] <= written[f"{key}_ci"][1] + 1e-9
    runs = written["details"]["supervised"]["runs"]
    assert list(runs) == ["100%", "50%", "25%", "10%", "20 images"]
    assert runs["100%"]["training_images"] >= runs["50%"]["training_images"] >= runs["10%"]["training_images"]
    assert written["generator_fingerprint"] == generator_fingerprint()
    page = (tmp_path / "out" / "benchmark_calibration_us.md").read_text()
    assert "malignant_spiculated_fraction" in page and "figures/calibration_us/dice_vs_labels.png" in page
    assert (tmp_path / "out" / "figures" / "calibration_us" / "normal.png").stat().st_size > 5_000
    assert "(wall time)" in capsys.readouterr().out

    # a second run resumes: no fine-tuning again, and the attempts log kept below the measured part
    model = tmp_path / "work" / "runs" / "random_100pc" / "models" / "model.pt"
    stamp = model.stat().st_mtime_ns
    (tmp_path / "out" / "benchmark_calibration_us.md").write_text(page + "\n## Calibration attempts\n\nattempt 1\n")
    calibration_run.calibrate_us(str(tmp_path / "benchmark"), str(tmp_path / "out"), str(tmp_path / "work"),
                                 workers=1, training=TINY)
    assert model.stat().st_mtime_ns == stamp
    page = (tmp_path / "out" / "benchmark_calibration_us.md").read_text()
    assert page.endswith("## Calibration attempts\n\nattempt 1\n")


def test_calibrate_us_refuses_a_missing_bundle_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["calibrate-us", "--bundle", str(tmp_path / "no_bundle"), "--data", str(tmp_path / "benchmark"),
              "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")])
    assert exit_.value.code == 2 and "no bundle here" in capsys.readouterr().err
    assert not (tmp_path / "benchmark").exists()
