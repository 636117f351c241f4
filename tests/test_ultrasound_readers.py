"""The ultrasound readers on tiny layouts built by hand as each data set is distributed, the ultrasound manifest's
splits, the pixel loaders (grey images, merged masks) and the ``manifest`` command for an ultrasound format."""

from __future__ import annotations

import logging
import subprocess
import sys

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from custom.skip_report import SkipReport
from custom.ultrasound.manifest import (
    assign_group_splits,
    build_us_manifest,
    check_us_images,
    mask_list,
    read_us_manifest,
    us_manifest_frame,
)
from custom.ultrasound.readers.loading import load_grey, load_label_map, load_merged_mask
from custom.ultrasound.readers.registry import ULTRASOUND_READERS, ultrasound_reader_for

H, W = 20, 30


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def _grey_rgb(value):
    """An RGB image that is grey in fact, as BUSI stores its images: ``value`` everywhere but a 4 x 4 corner 40
    levels off, which JPEG keeps too (a constant image shows nothing, and the readers refuse it)."""
    grey = np.full((H, W, 1), value, np.uint8)
    grey[-4:, -4:] = (value + 40) % 256
    return np.repeat(grey, 3, axis=2)


def _mask(rows, cols, shape=(H, W)):
    mask = np.zeros(shape, np.uint8)
    mask[rows, cols] = 255
    return mask


def _problems(report):
    return {path.rsplit("/", 1)[-1]: problem for path, problem in report.items}


# ---- BUSI ----

def _busi(root):
    data = root / "Dataset_BUSI_with_GT"
    _png(data / "benign" / "benign (1).png", _grey_rgb(90))
    _png(data / "benign" / "benign (1)_mask.png", _mask(slice(2, 6), slice(3, 8)))
    _png(data / "benign" / "benign (1)_mask_1.png", _mask(slice(10, 13), slice(20, 25)))
    _png(data / "benign" / "benign (2).png", _grey_rgb(40))
    _png(data / "benign" / "benign (2)_mask.png", _mask(slice(0, 4), slice(0, 4)))
    _png(data / "malignant" / "malignant (1).png", _grey_rgb(60))
    _png(data / "malignant" / "malignant (1)_mask.png", _mask(slice(5, 9), slice(5, 9)))
    _png(data / "normal" / "normal (1).png", _grey_rgb(120))
    _png(data / "normal" / "normal (1)_mask.png", np.zeros((H, W)))
    return data


def test_busi_lists_every_mask_of_an_image_and_the_loaders_merge_them(tmp_path):
    from custom.ultrasound.readers.busi import read_busi
    from custom.ultrasound.readers.transforms import LoadMergedMaskd, LoadUltrasoundd

    data = _busi(tmp_path)
    report = SkipReport()
    table = read_busi(tmp_path, report=report)  # the folder holding Dataset_BUSI_with_GT
    assert len(report) == 0 and len(table) == 4
    assert table.equals(read_busi(data, report=SkipReport()))  # or that folder itself
    rows = table.set_index("image_id")
    assert list(rows["class_name"]) == ["benign", "benign", "malignant", "normal"]
    assert set(rows["patient_id"]) == {""} and set(rows["dataset"]) == {"busi"}
    assert mask_list(rows.loc["benign/benign (1).png", "mask_paths"]) == [
        str(data / "benign" / "benign (1)_mask.png"), str(data / "benign" / "benign (1)_mask_1.png")]

    load = [LoadUltrasoundd(keys="image"), LoadMergedMaskd(keys="mask", image_key="image")]
    two_lesions, normal = rows.loc["benign/benign (1).png"], rows.loc["normal/normal (1).png"]
    sample = {"image": two_lesions["path"], "mask": two_lesions["mask_paths"]}
    for transform in load:
        sample = transform(sample)
    assert sample["image"].shape == (1, H, W) and sample["image"].dtype == np.float32
    assert np.array_equal(sample["image"][0], _grey_rgb(90)[..., 0])  # grey RGB becomes its one channel, exactly
    assert sample["mask"].shape == (1, H, W) and set(np.unique(sample["mask"])) == {0.0, 1.0}
    assert sample["mask"].sum() == 4 * 5 + 3 * 5  # both lesions, merged
    normal = {"image": normal["path"], "mask": normal["mask_paths"]}
    for transform in load:
        normal = transform(normal)
    assert normal["mask"].sum() == 0


def test_busi_reports_and_skips_bad_files_by_name(tmp_path):
    from custom.ultrasound.readers.busi import read_busi

    data = _busi(tmp_path)
    benign = data / "benign"
    _png(benign / "benign (3).png", _grey_rgb(10))  # no mask
    _png(benign / "benign (4)_mask.png", _mask(slice(0, 2), slice(0, 2)))  # no image
    (benign / "benign (5).png").write_bytes(b"\x89PNG\r\n\x1a\n not a real PNG")
    _png(benign / "benign (5)_mask.png", _mask(slice(0, 2), slice(0, 2)))
    _png(benign / "benign (6).png", _grey_rgb(10))
    _png(benign / "benign (6)_mask.png", _mask(slice(0, 2), slice(0, 2), shape=(H + 1, W)))
    (benign / "notes.txt").write_text("scanned 2018")
    report = SkipReport()
    table = read_busi(data, report=report)
    assert len(table) == 4  # only the good images of _busi
    problems = _problems(report)
    assert set(problems) == {"benign (3).png", "benign (4)_mask.png", "benign (5).png", "benign (6)_mask.png",
                             "notes.txt"}
    assert problems["benign (3).png"].startswith("image without mask")
    assert problems["benign (4)_mask.png"].startswith("mask without image")
    assert problems["benign (5).png"].startswith("unreadable image")
    assert problems["benign (6)_mask.png"].startswith("mask size differs: 21x30") and "benign (6).png" in problems[
        "benign (6)_mask.png"]
    assert "benign (5)_mask.png" not in problems  # the image is named, not its innocent mask


def test_a_colour_image_is_converted_by_luma_with_a_warning_naming_it(tmp_path, caplog):
    grey = _png(tmp_path / "grey.png", _grey_rgb(77))
    colour = _grey_rgb(77)
    colour[:5, :5] = [200, 30, 30]  # a red annotation: 4% of the pixels
    colour_path = _png(tmp_path / "colour.png", colour)
    with caplog.at_level(logging.WARNING, logger="custom.ultrasound.readers.loading"):
        assert np.array_equal(load_grey(grey), _grey_rgb(77)[..., 0]) and not caplog.records
        image = load_grey(colour_path)
    assert "colour.png: a colour image" in caplog.text
    assert image[0, 0] == pytest.approx(0.299 * 200 + 0.587 * 30 + 0.114 * 30) and image[10, 10] == pytest.approx(77)


def test_merging_masks_of_another_size_is_an_error_naming_the_mask(tmp_path):
    small = _png(tmp_path / "small_mask.png", _mask(slice(0, 2), slice(0, 2), shape=(H - 1, W)))
    with pytest.raises(ValueError, match=r"small_mask.png: mask of 19x30 pixels for an image of 20x30"):
        load_merged_mask([small], (H, W))
    with pytest.raises(ValueError, match="no image shape"):
        load_merged_mask([])


# ---- UDIAT ----

def test_udiat_pairs_original_and_gt_and_leaves_the_class_empty(tmp_path):
    from custom.ultrasound.readers.udiat import read_udiat

    data = tmp_path / "DatasetB"
    for index in (1, 2, 3):
        _png(data / "original" / f"00000{index}.png", _grey_rgb(30 * index)[..., 0])
    _png(data / "GT" / "000001.png", _mask(slice(1, 4), slice(1, 4)))
    _png(data / "GT" / "000002.png", _mask(slice(5, 7), slice(5, 9)))
    _png(data / "GT" / "000009.png", _mask(slice(5, 7), slice(5, 9)))
    report = SkipReport()
    table = read_udiat(tmp_path, report=report)
    assert list(table["image_id"]) == ["original/000001.png", "original/000002.png"]
    assert list(table["mask_paths"]) == [str(data / "GT" / "000001.png"), str(data / "GT" / "000002.png")]
    assert set(table["class_name"]) == {""} and set(table["patient_id"]) == {""}
    assert load_merged_mask(mask_list(table.loc[1, "mask_paths"]), (H, W)).sum() == 2 * 4
    problems = _problems(report)
    assert problems["000003.png"] == "image without mask: no GT/000003.png"
    assert problems["000009.png"] == "mask without image: no original/000009.png"


# ---- CAMUS ----

def _nifti(path, rows_first):
    """Saved as CAMUS's files are: the array (width, height), x first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(np.asarray(rows_first).T), np.eye(4)), path)
    return path


def test_camus_reads_patients_label_maps_and_the_shipped_split(tmp_path):
    from custom.ultrasound.readers.camus import CAMUS_LABELS, read_camus

    public = tmp_path / "CAMUS_public"
    nifti = public / "database_nifti"
    image = np.arange(H * W, dtype=np.uint8).reshape(H, W)  # rows first: a pattern that tells H from W
    labels = np.zeros((H, W), np.uint8)
    labels[2:5, 2:5], labels[6:9, 2:5], labels[10:12, 2:5] = 1, 2, 3
    for number in (1, 2, 3):
        patient = nifti / f"patient000{number}"
        for view in ("2CH", "4CH"):
            for phase in ("ED", "ES"):
                _nifti(patient / f"patient000{number}_{view}_{phase}.nii.gz", image)
                _nifti(patient / f"patient000{number}_{view}_{phase}_gt.nii.gz", labels)
        _nifti(patient / f"patient000{number}_4CH_half_sequence.nii.gz", image)  # passed over
        (patient / "Info_4CH.cfg").write_text("ED: 1\nES: 12\n")
    (nifti / "patient0003" / "patient0003_4CH_ES.nii.gz").unlink()  # a label map without its image
    (public / "database_split").mkdir()
    (public / "database_split" / "subgroup_training.txt").write_text("patient0001\n")
    (public / "database_split" / "subgroup_testing.txt").write_text("patient0002\n")

    report = SkipReport()
    table = read_camus(nifti, report=report)
    assert len(table) == 11 and set(table["class_name"]) == {""}
    assert sorted(set(table["patient_id"])) == ["patient0001", "patient0002", "patient0003"]
    first = table.iloc[0]
    assert first["image_id"] == "patient0001/patient0001_2CH_ED.nii.gz"
    assert mask_list(first["mask_paths"]) == [str(nifti / "patient0001" / "patient0001_2CH_ED_gt.nii.gz")]
    assert np.array_equal(load_grey(first["path"]), image)  # rows first, as the image was made
    label_map = load_label_map(mask_list(first["mask_paths"])[0])
    assert sorted(np.unique(label_map)) == [0, *CAMUS_LABELS] and label_map[7, 3] == 2
    assert _problems(report) == {"patient0003_4CH_ES_gt.nii.gz":
                                 "label map without image: no patient0003_4CH_ES image beside it"}

    split = assign_group_splits(table, seed=0, val_fraction=0.0, test_fraction=0.5)
    by_patient = split.groupby("patient_id")
    assert by_patient["split"].nunique().max() == 1 and set(split["split_by"]) == {"patient"}
    assert by_patient["split"].first()[["patient0001", "patient0002"]].tolist() == ["train", "test"]
    seeds = by_patient["split_seed"].first()
    assert seeds.isna()[["patient0001", "patient0002"]].all() and seeds["patient0003"] == 0  # drawn, seed written


def test_camus_first_release_mhd_is_read_with_simpleitk_and_a_missing_raw_reported(tmp_path):
    sitk = pytest.importorskip("SimpleITK")
    from custom.ultrasound.readers.camus import read_camus

    image = np.arange(H * W, dtype=np.uint8).reshape(H, W)
    patient = tmp_path / "training" / "patient0001"
    patient.mkdir(parents=True)
    labels = np.zeros((H, W), np.uint8)
    labels[2:5, 2:5] = 1
    for name, pixels in (("patient0001_2CH_ED", image), ("patient0001_2CH_ED_gt", labels),
                         ("patient0001_2CH_ES", image)):
        sitk.WriteImage(sitk.GetImageFromArray(pixels), str(patient / f"{name}.mhd"))
    (patient / "patient0001_2CH_ES.raw").unlink()
    report = SkipReport()
    table = read_camus(tmp_path, report=report)
    assert list(table["image_id"]) == ["training/patient0001/patient0001_2CH_ED.mhd"]
    assert list(table["patient_id"]) == ["training/patient0001"]
    assert np.array_equal(load_grey(table.loc[0, "path"]), image)
    assert "data file patient0001_2CH_ES.raw is missing" in _problems(report)["patient0001_2CH_ES.mhd"]


# ---- POCUS ----

def _gif(path, n_frames):
    """A video whose frame i is grey level 10 * i, so that a frame's index can be read from its pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [Image.fromarray(_grey_rgb(10 * i)[..., 0]).convert("P") for i in range(n_frames)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=40, loop=0)
    return path


def test_pocus_frames_are_grouped_by_their_video_and_never_straddle_splits(tmp_path):
    from custom.ultrasound.readers.pocus import read_pocus

    data = tmp_path / "image_dataset"
    for cls, prefix in (("covid", "Cov"), ("pneumonia", "Pneu"), ("regular", "Reg")):
        for video in range(6):
            for frame in (0, 15, 30):
                _png(data / cls / f"{prefix}-grep-{video}.mp4_frame{frame}.jpg", _grey_rgb(frame))
        _png(data / cls / f"{prefix}_still_image.png", _grey_rgb(5))
    _png(tmp_path / "pocus_images" / "convex" / "Reg_Avi_Image002.jpg", _grey_rgb(5))
    _png(tmp_path / "pocus_images" / "convex" / "dknow-C_ConvexProb_score0.jpg", _grey_rgb(5))

    report = SkipReport()
    table = read_pocus(data, report=report)
    assert len(report) == 0 and len(table) == 3 * (6 * 3 + 1)
    frame = table.set_index("image_id").loc["covid/Cov-grep-2.mp4_frame15.jpg"]
    assert (frame["video_id"], frame["frame"], frame["class_name"]) == ("Cov-grep-2.mp4", 15, "covid")
    still = table.set_index("image_id").loc["pneumonia/Pneu_still_image.png"]
    assert still["video_id"] == "" and pd.isna(still["frame"])

    built = build_us_manifest("pocus", data, seed=4, val_fraction=0.2, test_fraction=0.2)
    videos = built[built["video_id"] != ""]
    assert videos.groupby("video_id")["split"].nunique().max() == 1 and set(videos["split_by"]) == {"video"}
    assert set(built["split"]) == {"train", "val", "test"}
    assert built.groupby("class_name")["split"].nunique().min() == 3  # every class in every split
    assert built.equals(build_us_manifest("pocus", data, seed=4, val_fraction=0.2, test_fraction=0.2))

    raw = SkipReport()  # the repository's raw layout: the class is the name's prefix
    table = read_pocus(tmp_path / "pocus_images", report=raw)
    assert list(table["class_name"]) == ["regular"]
    assert _problems(raw)["dknow-C_ConvexProb_score0.jpg"].startswith("class unknown")


def test_pocus_videos_give_every_nth_frame_into_the_cache_or_are_reported(tmp_path, monkeypatch):
    import custom.ultrasound.readers.video as video
    from custom.ultrasound.readers.pocus import read_pocus

    data = tmp_path / "pocus_videos"
    _gif(data / "convex" / "Reg-Atlas-alines.gif", 12)
    (data / "convex" / "Cov-clarius3.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not decoded here")
    cache = tmp_path / "frames"
    monkeypatch.setattr(video, "_PLUGINS", (("a_video_package_not_installed", "pyav"),))

    report = SkipReport()
    table = read_pocus(data, report=report, frame_stride=5, frame_cache=cache)
    assert list(table["frame"]) == [0, 5, 10] and set(table["video_id"]) == {"Reg-Atlas-alines.gif"}
    assert list(table["image_id"]) == [f"convex/Reg-Atlas-alines.gif_frame{i}" for i in (0, 5, 10)]
    assert [load_grey(path)[0, 0] for path in table["path"]] == [0, 50, 100]
    assert all(path.startswith(str(cache)) for path in table["path"])
    assert "no decoder for .mp4 installed (pip install av" in _problems(report)["Cov-clarius3.mp4"]

    again = read_pocus(data, report=SkipReport(), frame_stride=4, frame_cache=cache)  # a new stride, new frames
    assert list(again["frame"]) == [0, 4, 8]
    uncached = SkipReport()
    assert read_pocus(data, report=uncached).empty
    assert _problems(uncached)["Reg-Atlas-alines.gif"].startswith("video not read: no frame cache folder")


# ---- image folder ----

def test_imagefolder_reads_class_folders_and_reports_loose_files(tmp_path):
    from custom.ultrasound.readers.imagefolder import read_imagefolder

    _png(tmp_path / "cats" / "a.jpg", _grey_rgb(1))
    _png(tmp_path / "dogs" / "b.png", _grey_rgb(2))
    _png(tmp_path / "loose.png", _grey_rgb(3))
    report = SkipReport()
    table = read_imagefolder(tmp_path, report=report)
    assert table["image_id"].tolist() == ["cats/a.jpg", "dogs/b.png"]
    assert table["class_name"].tolist() == ["cats", "dogs"]
    assert _problems(report)["loose.png"].startswith("not in a class folder")


# ---- splits, registry, command line, layers ----

def test_splits_are_by_patient_stratified_seeded_and_independent_of_row_order():
    rows = [{"dataset": "d", "image_id": f"p{p}/{i}.png", "path": f"/d/p{p}/{i}.png", "patient_id": f"p{p}",
             "class_name": "benign" if p % 2 else "malignant"} for p in range(40) for i in range(3)]
    rows += [{"dataset": "d", "image_id": f"loose{i}.png", "path": f"/d/loose{i}.png", "class_name": "normal"}
             for i in range(10)]
    table = us_manifest_frame(rows)
    split = assign_group_splits(table, seed=7, val_fraction=0.1, test_fraction=0.2)
    patients = split[split["patient_id"] != ""]
    assert patients.groupby("patient_id")["split"].nunique().max() == 1
    per_class = patients.drop_duplicates("patient_id").groupby(["class_name", "split"]).size()
    assert per_class["benign"].to_dict() == {"test": 4, "train": 14, "val": 2}
    loose = split[split["patient_id"] == ""]
    assert set(loose["split_by"]) == {"image"}
    assert loose["split"].value_counts().to_dict() == {"train": 7, "test": 2, "val": 1}
    shuffled = assign_group_splits(table.sample(frac=1, random_state=1), seed=7, val_fraction=0.1, test_fraction=0.2)
    by_image = split.set_index("image_id")["split"].sort_index()
    assert shuffled.set_index("image_id")["split"].sort_index().equals(by_image)
    other = assign_group_splits(table, seed=8, val_fraction=0.1, test_fraction=0.2)
    assert not other["split"].equals(split["split"])
    assert set(split["split_seed"]) == {7}


def test_the_registry_names_every_ultrasound_reader():
    assert set(ULTRASOUND_READERS) == {"busi", "udiat", "pocus", "camus", "imagefolder"}
    for layout in ULTRASOUND_READERS:
        assert callable(ultrasound_reader_for(layout)), layout
    with pytest.raises(ValueError, match=r"unknown ultrasound data-set format 'busy'; expected one of \['busi'"):
        ultrasound_reader_for("busy")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "custom", *args], capture_output=True, text=True, timeout=300)


def test_the_manifest_command_writes_the_ultrasound_manifest(tmp_path):
    data = _busi(tmp_path / "busi")
    (data / "benign" / "benign (3).png").write_bytes(b"broken")
    out = tmp_path / "out" / "manifest.csv"
    result = _cli("manifest", "--format", "busi", "--root", str(tmp_path / "busi"), "--out", str(out), "--seed", "3")
    assert result.returncode == 0, result.stderr
    table = read_us_manifest(out)
    assert len(table) == 4 and set(table["split_by"]) == {"image"} and set(table["split_seed"]) == {3}
    assert table.equals(build_us_manifest("busi", data, seed=3))  # the split written is the split drawn
    assert "1 input(s) skipped" in result.stdout and "benign (3).png" in result.stdout

    gone = data / "malignant" / "malignant (1)_mask.png"
    gone.unlink()  # after the manifest was written: only decoding every file finds it
    report = SkipReport()
    checked = check_us_images(table, report)
    assert len(checked) == 3 and report.items == [
        (str(data / "malignant" / "malignant (1).png"), f"undecodable image or mask: {gone}: file not found")]

    wrong = _cli("manifest", "--format", "busi", "--root", str(data), "--out", str(out), "--frame_cache", "x")
    assert wrong.returncode == 2 and "['frame_cache'] do not apply to the busi layout" in wrong.stderr


def test_the_manifest_command_names_both_modalities_formats_for_an_unknown_one(tmp_path):
    result = _cli("manifest", "--format", "optimam", "--root", str(tmp_path), "--out", str(tmp_path / "m.csv"))
    assert result.returncode == 2
    assert "unknown data-set format 'optimam'; mammography: ['cbis', 'csv', 'inbreast', 'vindr'], " \
           "ultrasound: ['busi', 'camus', 'imagefolder', 'pocus', 'udiat']" in result.stderr
    assert not (tmp_path / "m.csv").exists()
