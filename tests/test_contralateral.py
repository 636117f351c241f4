"""Finding the other breast of the same view and exam in a flat folder of images (a MONAI Label datastore)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from custom.mammography.detection.contralateral import find_contralateral, study_key


def _png(path):
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(path)
    return path


def test_dicom_images_pair_by_study_uid_laterality_and_view(synthetic_vindr, tmp_path):
    table = pd.read_csv(synthetic_vindr / "breast-level_annotations.csv", dtype=str)
    studies = sorted(table["study_id"].unique())[:2]
    flat = {}
    for row in table[table["study_id"].isin(studies)].itertuples():
        # flat, with names that say nothing: the tags must do it
        target = tmp_path / f"{len(flat):02d}.dcm"
        shutil.copyfile(synthetic_vindr / "images" / row.study_id / f"{row.image_id}.dicom", target)
        flat[(row.study_id, row.laterality, row.view_position)] = target
    files = sorted(tmp_path.glob("*.dcm"))
    for (study, side, view), path in flat.items():
        other = flat[(study, "R" if side == "L" else "L", view)]
        assert find_contralateral(path, files) == other
    assert study_key(flat[(studies[0], "L", "CC")]) != study_key(flat[(studies[1], "L", "CC")])


def test_files_without_tags_pair_by_name(tmp_path):
    left = _png(tmp_path / "P01_L_CC.png")
    right = _png(tmp_path / "P01_R_CC.png")
    _png(tmp_path / "P01_R_MLO.png")
    _png(tmp_path / "P02_R_CC.png")
    (tmp_path / "notes.txt").write_text("not an image")
    files = sorted(tmp_path.iterdir())
    assert find_contralateral(left, files) == right
    assert find_contralateral(right, files) == left
    lonely = _png(tmp_path / "P02_L_MLO.png")
    with pytest.raises(LookupError, match=r"P02_L_MLO.png: no image of the other breast \(R MLO\)"):
        find_contralateral(lonely, sorted(tmp_path.iterdir()))
    _png(tmp_path / "p01-right-cc.png")  # the same exam, view and side again
    with pytest.raises(LookupError, match="2 images could be the other breast"):
        find_contralateral(left, sorted(tmp_path.iterdir()))
