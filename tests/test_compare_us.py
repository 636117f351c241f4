"""``compare-us`` through the bundle's configs on the test preset: the table, paired differences and plot."""

from __future__ import annotations

import json

import pytest

from custom.cli import main
from custom.ultrasound.compare import compare_us


def test_compare_us_writes_the_table_the_differences_and_the_plot(tmp_path, capsys):
    main(["compare-us", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--preset", "test"])
    out = tmp_path / "out"
    table = (out / "table.md").read_text().splitlines()
    assert len(table) == 2 + 4 and table[2].startswith("| random | 100% |")
    assert "| multi_organ | 50% |" in table[-1]
    differences = json.loads((out / "differences.json").read_text())
    pairs = [((d["a"]["init"], d["a"]["label_fraction"]), (d["b"]["init"], d["b"]["label_fraction"]))
             for d in differences]
    assert pairs == [(("multi_organ", 1.0), ("random", 1.0)), (("multi_organ", 0.5), ("random", 0.5)),
                     (("multi_organ", 0.5), ("random", 1.0))]
    assert all(d["dice"]["ci_low"] <= d["dice"]["mean"] <= d["dice"]["ci_high"] for d in differences)
    assert (out / "dice_vs_label_fraction.png").stat().st_size > 0 and (out / "overlays.png").stat().st_size > 0
    assert (out / "pretrain" / "models" / "pretrained" / "simclr_pocus_camus" / "model.pt").is_file()
    assert "results written to" in capsys.readouterr().out


def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown preset"):
        compare_us(str(tmp_path), str(tmp_path / "out"), preset="huge")
