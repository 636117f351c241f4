"""Synthetic ultrasound (custom.ultrasound.synthetic): the real data sets' layouts file by file, the same bytes
for the same seed, and the physics the images are meant to show, in numbers."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image, ImageSequence
from scipy import ndimage
from scipy.stats import spearmanr

from custom.cli import main
from custom.ultrasound.synthetic import PRESETS, synth_us
from custom.ultrasound.synthetic.bmode import (
    RAYLEIGH_RATIO, Probe, beam_grid, draw_scatterers, echo_envelope, field_of_view, pixel_size_mm,
)
from custom.ultrasound.calibration.looks import measure_lesion
from custom.ultrasound.synthetic.annotation import burn_calipers
from custom.ultrasound.synthetic.breast import breast_image
from custom.ultrasound.synthetic.heart import PROBE as HEART_PROBE
from custom.ultrasound.synthetic.lung import PROBE as LUNG_PROBE
from custom.ultrasound.synthetic.lesions import MARGIN_SHARES, NOT_PARALLEL, WIDTH_MEDIAN_MM, plan_lesion
from custom.ultrasound.synthetic.lung import lung_video
from custom.ultrasound.synthetic.writers import busi_shape

TEST = PRESETS["test"]


def digests(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def grey(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """The test preset written through the command line, seed 0."""
    root = tmp_path_factory.mktemp("us") / "data"
    main(["synth-us", "--out", str(root), "--preset", "test"])
    return root


def test_same_seed_same_bytes_other_seed_other_images(written, tmp_path):
    synth_us(tmp_path / "again", seed=0, preset="test")
    synth_us(tmp_path / "other", seed=1, preset="test")
    first, again, other = digests(written), digests(tmp_path / "again"), digests(tmp_path / "other")
    assert first == again and len(first) == 117  # with Dataset_BUSI_truth's table and 11 exact regions
    second_lesion = re.compile(r"_mask_1\.png$")  # which image has two lesions is drawn from the seed too
    assert {n for n in other if not second_lesion.search(n)} == {n for n in first if not second_lesion.search(n)}
    unchanged = {name for name in first if first[name] == other.get(name)}  # lesions.csv differs too
    assert unchanged == {f"Dataset_BUSI_with_GT/normal/normal ({n})_mask.png" for n in range(1, 5)}  # all zero


def test_cli_refuses_a_folder_that_holds_a_set_and_an_unknown_preset(written, tmp_path, capsys):
    before = digests(written)
    with pytest.raises(SystemExit) as exit_:
        main(["synth-us", "--out", str(written), "--preset", "test"])
    assert exit_.value.code == 2 and "Dataset_BUSI_with_GT already exists" in capsys.readouterr().err
    assert digests(written) == before
    with pytest.raises(ValueError, match=r"unknown preset 'tiny'; choose from \['benchmark', 'default', 'test'\]"):
        synth_us(tmp_path / "x", preset="tiny")


def test_busi_layout_rgb_images_binary_masks_and_a_second_lesion_file(written):
    root = written / "Dataset_BUSI_with_GT"
    assert sorted(p.name for p in root.iterdir()) == ["benign", "malignant", "normal"]
    for label, count in TEST.busi.items():
        names = sorted(p.name for p in (root / label).iterdir())
        expected = {f"{label} ({n}){suffix}.png" for n in range(1, count + 1) for suffix in ("", "_mask")}
        second = [name for name in names if name.endswith("_mask_1.png")]
        assert set(names) - set(second) == expected
        assert len(second) == TEST.busi_two_lesions.get(label, 0)
        for number in range(1, count + 1):
            image = Image.open(root / label / f"{label} ({number}).png")
            assert image.mode == "RGB" and image.size == (TEST.size, TEST.size)
            pixels = np.asarray(image)
            assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 0] == pixels[..., 2]).all()
            masks = [grey(path) for path in sorted((root / label).glob(f"{label} ({number})_mask*.png"))]
            for mask in masks:
                assert mask.shape == (TEST.size, TEST.size) and set(np.unique(mask)) <= {0, 255}
                assert (mask.any() if label != "normal" else not mask.any())
            if len(masks) == 2:
                assert not (masks[0] & masks[1]).any()


def test_udiat_layout_grey_images_and_masks_with_the_same_names(written):
    root = written / "UDIAT"
    assert sorted(p.name for p in root.iterdir()) == ["GT", "original"]
    names = [f"{n:06d}.png" for n in range(1, TEST.udiat + 1)]
    assert sorted(p.name for p in (root / "original").iterdir()) == names
    assert sorted(p.name for p in (root / "GT").iterdir()) == names
    for name in names:
        assert Image.open(root / "original" / name).mode == "L"
        mask = grey(root / "GT" / name)
        assert set(np.unique(mask)) == {0, 255}


def test_pocus_frames_named_by_video_and_taken_from_their_gif(written):
    pattern = re.compile(r"^(Cov|Pneu|Reg)-Synth-(\d{3})_frame(\d+)\.png$")
    for label, prefix in (("covid", "Cov"), ("pneumonia", "Pneu"), ("regular", "Reg")):
        frames = sorted((written / "POCUS" / "image" / label).iterdir())
        assert len(frames) == TEST.pocus_videos * TEST.pocus_images_per_video
        videos = sorted(p.name for p in (written / "POCUS" / "video" / label).iterdir())
        assert videos == [f"{prefix}-Synth-{n:03d}.gif" for n in range(1, TEST.pocus_videos + 1)]
        for path in frames:
            match = pattern.match(path.name)
            assert match and match[1] == prefix and int(match[3]) % TEST.pocus_stride == 0
            video = Image.open(written / "POCUS" / "video" / label / f"{prefix}-Synth-{match[2]}.gif")
            sequence = [np.asarray(frame.convert("L")) for frame in ImageSequence.Iterator(video)]
            assert len(sequence) == TEST.pocus_frames
            image = np.asarray(Image.open(path))
            assert image.shape == (TEST.size, TEST.size, 3)
            np.testing.assert_array_equal(image[..., 0], sequence[int(match[3])])


def test_camus_layout_two_dimensional_nifti_with_camus_labels(written):
    patients = sorted(p.name for p in (written / "CAMUS").iterdir())
    assert patients == [f"patient{n:04d}" for n in range(1, TEST.camus_patients + 1)]
    spacing = pixel_size_mm(HEART_PROBE, (TEST.size, TEST.size))
    for patient in patients:
        folder = written / "CAMUS" / patient
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            f"{patient}_{view}_{phase}{gt}.nii.gz" for view in ("2CH", "4CH") for phase in ("ED", "ES")
            for gt in ("", "_gt"))
        for view in ("2CH", "4CH"):
            areas = {}
            for phase in ("ED", "ES"):
                image = nib.load(folder / f"{patient}_{view}_{phase}.nii.gz")
                labels = np.asarray(nib.load(folder / f"{patient}_{view}_{phase}_gt.nii.gz").dataobj)
                assert image.shape == labels.shape == (TEST.size, TEST.size) and labels.dtype == np.uint8
                assert image.get_data_dtype() == np.uint8
                assert np.allclose(image.header.get_zooms(), (spacing, spacing))
                assert set(np.unique(labels)) == {0, 1, 2, 3}
                pixels = np.asarray(image.dataobj).astype(float)
                assert pixels[labels == 1].mean() < pixels[labels == 2].mean() - 20  # blood darker than wall
                areas[phase] = (labels == 1).sum()
            assert areas["ES"] < 0.85 * areas["ED"]  # the cavity contracts in systole


def test_natural_images_are_rgb_crops_in_class_folders(written):
    classes = sorted(p.name for p in (written / "natural").iterdir())
    assert classes == sorted(["astronaut", "cat", "coffee", "rocket"])
    for name in classes:
        files = sorted((written / "natural" / name).iterdir())
        assert [p.name for p in files] == [f"{name}_{n:03d}.png" for n in range(TEST.natural_per_class)]
        assert all(Image.open(p).mode == "RGB" and Image.open(p).size == (TEST.size, TEST.size) for p in files)


def test_readme_says_the_data_are_synthetic_and_names_every_folder(written):
    text = (written / "README.txt").read_text()
    assert "not patient data" in text
    assert all(folder in text for folder in ("Dataset_BUSI_with_GT/", "UDIAT/", "POCUS/", "CAMUS/", "natural/"))


def test_speckle_envelope_is_rayleigh_before_log_compression():
    grid = beam_grid(Probe("linear", depth_mm=40.0, frequency_mhz=7.5), (256, 256))
    rng = np.random.default_rng(0)
    uniform, lossless = np.ones(grid.shape, np.float32), np.zeros(grid.shape, np.float32)
    envelope = echo_envelope(uniform, lossless, grid, draw_scatterers(rng, grid))[40:-40, 20:-20]
    assert RAYLEIGH_RATIO == pytest.approx(0.523, abs=1e-3)
    assert envelope.std() / envelope.mean() == pytest.approx(RAYLEIGH_RATIO, abs=0.03)
    assert envelope.mean() == pytest.approx(1.0, abs=0.03)
    sparse = echo_envelope(uniform, lossless, grid, draw_scatterers(rng, grid, np.full(grid.shape, 0.05)))
    assert sparse.std() / sparse.mean() > 0.7  # few scatterers per cell: not fully developed speckle


def _lesions(pathology: str, count: int, shape=(256, 300)) -> list[dict]:
    """``count`` images' lesions: plan and measurements (``calibrate-us``'s, on the exact region)."""
    found = []
    for seed in range(count):
        scan = breast_image(np.random.default_rng([7, seed]), shape, pathology)
        (exact,), (drawn,), (plan,) = scan.exact_masks, scan.masks, scan.lesions
        measured = measure_lesion(scan.image.astype(float), exact, drawn, np.zeros_like(exact), scan.pixel_mm,
                                  scan.look.dynamic_range_db)
        found.append({"plan": plan, **measured})
    return found


def test_posterior_features_show_behind_the_lesion_as_planned():
    lesions = _lesions("malignant", 24) + _lesions("benign", 16)
    by_feature = {}
    for lesion in lesions:
        if np.isfinite(lesion["posterior_db"]):
            by_feature.setdefault(lesion["plan"].posterior, []).append(lesion["posterior_db"])
    assert set(by_feature) == {"shadowing", "none", "enhancement"}
    assert np.median(by_feature["shadowing"]) < -5 and np.median(by_feature["enhancement"]) > 3
    assert abs(np.median(by_feature["none"])) < 2.5


def test_echogenicity_spreads_from_anechoic_to_nearly_isoechoic():
    lesions = [lesion for lesion in _lesions("benign", 30) if np.isfinite(lesion["contrast_db"])]
    planned = np.array([lesion["plan"].contrast_db for lesion in lesions])
    measured = np.array([lesion["contrast_db"] for lesion in lesions])
    solid = np.array([lesion["plan"].kind == "solid benign" for lesion in lesions])
    assert spearmanr(planned, measured).statistic > 0.6
    assert (measured[solid] > -6).any() and np.median(measured[~solid]) < -12  # some nearly iso, cysts dark


def test_hand_drawn_masks_follow_the_margin_within_a_few_percent():
    lesions = _lesions("malignant", 12)
    assert all(0.8 < lesion["mask_dice"] < 0.99 for lesion in lesions)
    assert 1.0 < np.mean([lesion["outline_offset_percent"] for lesion in lesions]) < 6.0


def test_plans_follow_the_real_shares():
    rng = np.random.default_rng(0)
    plans = [plan_lesion(rng, "malignant") for _ in range(3000)]
    for margin, share in MARGIN_SHARES["malignant"].items():
        assert np.mean([p.margin == margin for p in plans]) == pytest.approx(share, abs=0.03)
    widths = [p.size_mm[1] for p in plans]
    assert np.median(widths) == pytest.approx(WIDTH_MEDIAN_MM["malignant"], rel=0.05)
    assert np.mean([not p.parallel for p in plans]) == pytest.approx(NOT_PARALLEL["malignant"], abs=0.03)


def test_calipers_mark_the_ends_of_the_lesion():
    image = np.zeros((100, 120), np.uint8)
    mask = np.zeros(image.shape, bool)
    mask[40:60, 30:90] = True
    marked = burn_calipers(np.random.default_rng(1), image, (mask,))
    rows, cols = np.nonzero(marked == 255)
    assert rows.size and not (marked[mask] == 255).all()
    assert cols.min() < 30 and cols.max() >= 90  # marks just outside both ends of the width


def test_busi_sized_images_are_not_square_and_within_the_real_range():
    rng = np.random.default_rng(0)
    shapes = [busi_shape(rng, (190, 719)) for _ in range(500)]
    assert all(190 <= h <= 719 and 190 <= w <= 719 and h != w for h, w in shapes)
    assert 400 < np.median([h for h, _ in shapes]) < 550 and np.mean([w > h for h, w in shapes]) > 0.6
    spec = PRESETS["benchmark"]
    assert spec.busi == {"benign": 437, "malignant": 210, "normal": 133}
    assert spec.busi_two_lesions == {"benign": 16, "malignant": 1}


def test_sets_can_be_written_one_at_a_time_into_one_folder(tmp_path):
    synth_us(tmp_path, preset="test", sets=("busi",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dataset_BUSI_truth", "Dataset_BUSI_with_GT", "README.txt"]
    synth_us(tmp_path, preset="test", sets=("pocus",))
    assert (tmp_path / "POCUS").is_dir() and not (tmp_path / "CAMUS").exists()
    with pytest.raises(FileExistsError, match="Dataset_BUSI_with_GT already exists"):
        synth_us(tmp_path, preset="test", sets=("busi",))
    with pytest.raises(ValueError, match="unknown synthetic set"):
        synth_us(tmp_path, preset="test", sets=("mri",))


def test_b_line_classes_have_more_vertical_bright_streaks_than_regular_lungs():
    shape = (128, 128)
    rows = slice(int(0.45 * shape[0]), int(0.7 * shape[0]))
    columns = np.nonzero(field_of_view(beam_grid(LUNG_PROBE, shape))[rows].all(axis=0))[0]

    def streaks(image: np.ndarray) -> float:
        profile = image[rows][:, columns].astype(float).mean(axis=0)
        return float(np.std(profile - ndimage.gaussian_filter1d(profile, 12)))

    energy = {label: np.mean([streaks(lung_video(np.random.default_rng([5, seed]), shape, label, 1)[0])
                              for seed in range(8)]) for label in ("regular", "covid", "pneumonia")}
    assert energy["covid"] > 2 * energy["regular"] and energy["pneumonia"] > 1.5 * energy["regular"]
