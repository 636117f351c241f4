"""``bench train`` times the bundle's training with any of its options on, and refuses a setting it does not know
(a mistyped option would otherwise time the defaults under the option's name)."""

from __future__ import annotations

import pytest

from custom.mammography.bench.train import bench_train


def test_an_option_reaches_the_timed_workflow(capsys):
    result = bench_train(studies=4, epochs=2, batch_size=8, pairs_per_exam=4, amp=False,
                         synthetic_preset="test", monitor_embedding=False, calibrate_detector=False,
                         regulariser="vicreg", regulariser_weight=0.5)
    assert result["settings"] == {"synthetic_preset": "test", "monitor_embedding": False, "calibrate_detector": False,
                                  "regulariser": "vicreg", "regulariser_weight": 0.5}
    assert result["end_to_end_pairs_per_s"] > 0 and result["ceiling_pairs_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["end_to_end_pairs_per_s"] / result["ceiling_pairs_per_s"])
    assert "regulariser=vicreg" in capsys.readouterr().out


def test_a_mistyped_setting_stops_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="'regularizer' not a setting of .*train.json"):
        bench_train(data=str(tmp_path / "absent"), regularizer="vicreg")
