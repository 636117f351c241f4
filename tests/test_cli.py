"""The command line: ``python -m custom synth`` and ``python -m custom manifest`` on real files."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from custom.mammography.data.manifest import read_manifest


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "custom", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_synth_then_manifest(tmp_path):
    data = tmp_path / "data"
    result = _cli("synth", "--out", str(data), "--studies", "4", "--seed", "1", "--preset", "test")
    assert result.returncode == 0, result.stderr
    assert len(list((data / "images").rglob("*.dicom"))) == 16
    assert list(pd.read_csv(data / "breast-level_annotations.csv").columns)[:5] == [
        "study_id", "series_id", "image_id", "laterality", "view_position"]

    out = tmp_path / "manifest.csv"
    result = _cli("manifest", "--format", "vindr", "--root", str(data), "--out", str(out))
    assert result.returncode == 0, result.stderr
    table = read_manifest(out)
    assert len(table) == 16 and table.groupby("patient_id")["split"].nunique().max() == 1
    assert "no input skipped" in result.stdout


def test_manifest_reports_a_missing_annotation_file(tmp_path):
    result = _cli("manifest", "--format", "vindr", "--root", str(tmp_path), "--out", str(tmp_path / "m.csv"))
    assert result.returncode != 0
    assert "breast-level_annotations.csv" in result.stderr
    assert not (tmp_path / "m.csv").exists()


def test_unknown_format_is_named(tmp_path):
    result = _cli("manifest", "--format", "optimam", "--root", str(tmp_path), "--out", str(tmp_path / "m.csv"))
    assert result.returncode != 0 and "optimam" in result.stderr


def test_space_separated_images_reach_the_heatmap_command_as_one_list():
    from custom.cli import _join_list_flag

    argv = ["heatmap", "--bundle", "B", "--images", "a.dcm", "b.dcm", "c.png", "--out", "O"]
    assert _join_list_flag(argv, "--images") == ["heatmap", "--bundle", "B", "--images", "a.dcm,b.dcm,c.png", "--out", "O"]
    assert _join_list_flag(["synth", "--out", "O"], "--images") == ["synth", "--out", "O"]


def test_heatmap_without_a_calibrated_bundle_is_a_one_line_error(tmp_path):
    image = tmp_path / "x_L_CC.png"
    image.write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-m", "custom", "heatmap", "--bundle", str(tmp_path), "--images", str(image), "--out", str(tmp_path / "o")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "detector.json" in result.stderr and "Traceback" not in result.stderr


def test_bench_help_lists_the_benchmark_options_instead_of_running_it():
    result = subprocess.run([sys.executable, "-m", "custom", "bench", "detect", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "sliding_stride" in result.stdout and "Traceback" not in result.stderr


def test_lowercase_true_and_false_on_the_command_line_are_booleans():
    """Fire keeps ``false`` as the string 'false' (which is true); the CLI reads it as the user meant, for
    boolean options only: a folder called ``false`` stays a folder."""
    from custom.cli import _python_booleans

    argv = ["bench", "train", "--amp", "false", "--data", "false", "--patch", "96"]
    assert _python_booleans(argv) == ["bench", "train", "--amp", "False", "--data", "false", "--patch", "96"]
    argv = ["manifest", "--root", "true", "--out=false", "--check=TRUE"]
    assert _python_booleans(argv) == ["manifest", "--root", "true", "--out=false", "--check=True"]
    assert _python_booleans(["heatmap", "--amp", "false"]) == ["heatmap", "--amp", "False"]
    assert _python_booleans(["unknown", "--amp", "false"]) == ["unknown", "--amp", "false"]


def test_list_options_take_a_lone_number():
    """Fire reads ``--patch_presets 96`` as the int 96, and ``96,256`` as a tuple."""
    from custom.cli import _names

    assert _names(96) == ("96",)
    assert _names((96, 256)) == ("96", "256")
    assert _names("simclr, moco") == ("simclr", "moco")
    assert _names(None) is None
