"""``compare-us`` through the bundle's configs on the test preset: the table, the paired differences, the
non-inferiority test of the "half the labels" claim, the plots, and resuming."""

from __future__ import annotations

import json

import pytest

from custom.cli import main
from custom.evaluation.metrics import MetricResult
from custom.evaluation.segmentation import SegmentationScores
from custom.ultrasound.compare import compare_us
from custom.ultrasound.compare.report import NON_INFERIORITY_MARGIN, differences


def test_compare_us_writes_the_table_the_differences_and_the_plots_and_resumes(tmp_path, capsys):
    main(["compare-us", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--preset", "test"])
    out = tmp_path / "out"
    table = (out / "table.md").read_text().splitlines()
    assert len(table) == 2 + 4 and table[2].startswith("| random | 100% |")
    assert "| multi_organ | 50% |" in table[-1]
    found = json.loads((out / "differences.json").read_text())
    pairs = [((d["a"]["init"], d["a"]["label_fraction"]), (d["b"]["init"], d["b"]["label_fraction"]))
             for d in found["pretrained_minus_random"]]
    assert pairs == [(("multi_organ", 1.0), ("random", 1.0)), (("multi_organ", 0.5), ("random", 0.5))]
    (test,) = found["non_inferiority"]
    assert (test["a"], test["b"]) == ({"init": "multi_organ", "label_fraction": 0.5},
                                      {"init": "random", "label_fraction": 1.0})
    assert test["margin"] == NON_INFERIORITY_MARGIN and test["non_inferior"] == (test["dice"]["ci_low"] > -0.02)
    assert all(d["dice"]["ci_low"] <= d["dice"]["mean"] <= d["dice"]["ci_high"]
               for d in found["pretrained_minus_random"] + found["non_inferiority"])
    for name in ("dice_vs_label_fraction.png", "differences.png", "overlays.png"):
        assert (out / name).stat().st_size > 0
    assert "multi_organ 50% minus random 100%" in (out / "differences.md").read_text()
    assert (out / "pretrain" / "models" / "pretrained" / "simclr_pocus_camus" / "model.pt").is_file()
    printed = capsys.readouterr().out
    assert "non-inferiority" in printed and "(wall time)" in printed

    model = out / "runs" / "multi_organ_50" / "models" / "model.pt"
    encoder = out / "pretrain" / "models" / "pretrained" / "simclr_pocus_camus" / "model.pt"
    stamps = model.stat().st_mtime_ns, encoder.stat().st_mtime_ns
    main(["compare-us", "--data", str(tmp_path / "data"), "--out", str(out), "--preset", "test"])
    assert (model.stat().st_mtime_ns, encoder.stat().st_mtime_ns) == stamps  # nothing trained again


def _scores(dice_values):
    return [(f"image{i}", f"image{i}", SegmentationScores(d, d, 1.0, 10, 10, "px")) for i, d in enumerate(dice_values)]


def test_non_inferiority_is_decided_by_the_lower_end_of_the_interval():
    # pretrained at 50% scores 0.01 below random at 100% on every image: the difference is -0.01 exactly, its
    # interval [-0.01, -0.01] lies above the margin -0.02, so non-inferior; 0.03 below is not
    random = _scores([0.8, 0.7, 0.6, 0.9])
    close, far = _scores([0.79, 0.69, 0.59, 0.89]), _scores([0.77, 0.67, 0.57, 0.87])

    def paired(a, b, groups):
        values = [x.dice - y.dice for x, y in zip(a, b, strict=True)]
        mean = sum(values) / len(values)
        return {"dice": MetricResult(mean, min(values), max(values), len(values)), "iou": None, "hd95": None}

    for run, verdict in ((close, True), (far, False)):
        found = differences({("random", 1.0): random, ("lung", 0.5): run}, paired)
        (test,) = found["non_inferiority"]
        assert test["non_inferior"] is verdict and found["pretrained_minus_random"] == []
        assert ("non-inferiority shown" if verdict else "non-inferiority not shown") in test["statement"]


def test_unknown_preset_is_refused_and_the_test_preset_needs_data(tmp_path):
    with pytest.raises(ValueError, match="unknown preset"):
        compare_us(str(tmp_path), str(tmp_path / "out"), preset="huge")
    with pytest.raises(ValueError, match="needs --data"):
        compare_us(None, str(tmp_path / "out"), preset="test")
