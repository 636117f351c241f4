"""CBIS-DDSM as TCIA delivers it, at a realistic pixel count and with no spacing option anywhere: its DICOMs state
no pixel spacing and give each image its own StudyInstanceUID, and CBIS-DDSM lists only breasts holding an
abnormality. ``heatmap`` on bare paths and the README's own-archive training command read them at the DDSM
digitisers' documented spacing and say so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import pydicom
import pytest

from tests.archive_fixtures import run_cli, tiny_bundle, write_cbis_archive
from tests.layout_fixtures import tree_digest

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "mammo_siamese_softlabel"
# 2000 x 1400 pixels of 43.5 µm: 87 x 61 mm, a small breast (real scans are about 3000 x 5000 pixels)
SHAPE = (2000, 1400)
BOTH = [("L", "CC"), ("R", "CC"), ("L", "MLO"), ("R", "MLO")]
# six patients with a lesion in each breast, and one with a lesion in the left breast only (unpaired)
BREASTS = {**{f"P_{n:05d}": BOTH for n in (1, 4, 9, 13, 21, 27)}, "P_00030": [("L", "CC"), ("L", "MLO")]}
WARNING = "state no pixel spacing: read at an assumed 0.0435 mm (CBIS-DDSM film scan"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("cbis")
    return root, write_cbis_archive(root, BREASTS, shape=SHAPE)


def test_the_files_are_as_cbis_ddsm_writes_them(archive):
    _, images = archive
    headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in images.values()]
    assert all("PixelSpacing" not in ds and "ImagerPixelSpacing" not in ds for ds in headers)
    assert len({ds.StudyInstanceUID for ds in headers}) == len(headers)  # one study UID per image
    assert (headers[0].Rows, headers[0].Columns) == SHAPE


def test_heatmap_on_bare_paths_reads_them_at_the_ddsm_spacing_and_says_so(archive, tmp_path, capsys):
    _, images = archive
    exam = [images["P_00001", side, view] for side, view in BOTH]
    bundle = tiny_bundle(tmp_path / "bundle", [exam])
    out = tmp_path / "out"
    code, printed, err = run_cli(capsys, "heatmap", "--bundle", str(bundle), "--images", *map(str, exam),
                                 "--out", str(out))
    assert code == 0, err
    assert f"warning: 4 image(s) {WARNING}" in printed and "--assumed_pixel_spacing MM" in printed
    (summary,) = out.glob("*/detection.json")
    views = {view["view"]: view for view in json.loads(summary.read_text())["views"]}
    assert {view: entry["status"] for view, entry in views.items()} == {"CC": "ok", "MLO": "ok"}
    heatmaps = sorted(out.rglob("*.nii.gz"))
    assert len(heatmaps) == 4 and {nib.load(path).shape[:2] for path in heatmaps} == {SHAPE[::-1]}  # x first
    # the spacing given replaces the assumption, and nothing is assumed then
    code, printed, err = run_cli(capsys, "heatmap", "--bundle", str(bundle), "--images", *map(str, exam),
                                 "--assumed_pixel_spacing", "0.05", "--out", str(tmp_path / "given"))
    assert code == 0, err
    assert "no pixel spacing" not in printed


def test_readme_training_command_trains_on_the_tcia_layout_with_no_spacing_option(archive, tmp_path):
    root, images = archive
    before = tree_digest(root)
    command = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", "configs/train.json",
               "--dataset_dir", str(root), "--dataset_format", "cbis",
               # tiny settings, so that the test is fast; none of them is about spacing
               "--bundle_root", str(tmp_path), "--max_epochs", "1", "--pairs_per_exam", "4", "--batch_size", "8",
               "--prepare_workers", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=BUNDLE)
    printed = result.stdout + result.stderr
    assert result.returncode == 0, printed[-4000:]
    assert f"{len(images) - 2} image(s) {WARNING}" in printed  # every image of the paired exams
    assert "unpaired study: study P_00030 view CC" in printed  # the patient with one breast
    assert (tmp_path / "models" / "model.pt").stat().st_size > 0
    assert json.loads((tmp_path / "models" / "detector.json").read_text())["format"] == "mammo-asymmetry-detector"
    assert tree_digest(root) == before
