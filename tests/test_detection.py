"""Lesion detection: dense embeddings, asymmetry search, candidates, geometry back to the files, outputs."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from monai.bundle import ConfigWorkflow
from sklearn.exceptions import NotFittedError

from custom.mammography.data.alignment import AxisAlignedAffine
from custom.mammography.data.geometry import original_to_output
from custom.mammography.data.pair_dataset import _cut
from custom.mammography.detection import (
    AsymmetryDetector,
    EncoderDenseEmbedder,
    RawPixelDenseEmbedder,
    StudyWriter,
    exams_from_images,
    extract_candidates,
    heatmap_to_original,
    neighbourhood_distance,
    points_to_original,
)
from custom.mammography.detection.cli import heatmap
from custom.networks import seeded_encoder
from tests.dicom_factory import synthetic_breast, write_mammogram_dicom

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "mammo_siamese_softlabel"
CONFIGS = BUNDLE / "configs"


# ---- dense embeddings and the neighbourhood search ----


def test_raw_pixel_cells_are_their_patches_averaged_down():
    image = torch.rand(1, 1, 100, 72, generator=torch.Generator().manual_seed(0))
    cells = RawPixelDenseEmbedder(patch_size=96, stride=16, grid=8)(image)
    assert cells.shape == (1, 64, 7, 5)
    for i, j in [(0, 0), (3, 2), (6, 4)]:
        patch = _cut(image[0, 0].numpy(), 16 * i, 16 * j, 96)
        np.testing.assert_allclose(cells[0, :, i, j].numpy(), patch.reshape(8, 12, 8, 12).mean(axis=(1, 3)).ravel(),
                                   atol=1e-6)


def test_encoder_embedding_grid_follows_the_feature_map():
    encoder = seeded_encoder(0, stem_stride=2, normalize=True)
    embedder = EncoderDenseEmbedder(encoder, patch_size=96)
    assert (embedder.stride, embedder.offset) == (32, 16.0)  # 3 cells per patch: centred half a cell in
    image = torch.rand(1, 1, 200, 130, generator=torch.Generator().manual_seed(1))
    cells = embedder(image)
    assert cells.shape == (1, 512, 7, 5)
    torch.testing.assert_close(cells.norm(dim=1), torch.ones(1, 7, 5))
    # one fully convolutional pass: shifting the breast by one cell shifts the embeddings by one cell
    shifted = embedder(torch.roll(image, shifts=32, dims=2))
    torch.testing.assert_close(shifted[0, :, 4, 2], cells[0, :, 3, 2], atol=0.05, rtol=0)
    with pytest.raises(ValueError, match="multiple of the encoder's stride"):
        EncoderDenseEmbedder(encoder, patch_size=100)


def test_neighbourhood_search_tolerates_a_one_cell_shift():
    embeddings = torch.randn(8, 6, 7, generator=torch.Generator().manual_seed(2))
    shifted = torch.roll(embeddings, shifts=1, dims=2)  # the other breast, one cell to the right
    interior = (slice(None), slice(0, 6))  # the last column has no counterpart after the shift
    assert neighbourhood_distance(embeddings, shifted, radius=1)[interior].max() < 1e-5
    assert neighbourhood_distance(embeddings, shifted, radius=0)[interior].min() > 0.5
    assert neighbourhood_distance(embeddings, embeddings, radius=0).max() < 1e-5
    with pytest.raises(ValueError, match="one shape"):
        neighbourhood_distance(embeddings, embeddings[:, :5], radius=1)


# ---- candidates on a hand-made map ----


def _blob(shape, centre_yx, sigma, height):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return height * np.exp(-((rows - centre_yx[0]) ** 2 + (cols - centre_yx[1]) ** 2) / (2 * sigma**2))


def test_two_blobs_give_two_ranked_candidates_with_half_peak_boxes():
    score_map = _blob((200, 240), (60, 70), 6.0, 0.6) + _blob((200, 240), (140, 170), 10.0, 0.9)
    candidates = extract_candidates(score_map, side="L", min_distance=20, max_candidates=5)
    assert len(candidates) == 2
    strong, weak = candidates
    assert strong.score == pytest.approx(0.9, abs=1e-3) and weak.score == pytest.approx(0.6, abs=1e-3)
    assert strong.centre == (170.5, 140.5) and weak.centre == (70.5, 60.5)
    half_width = 10.0 * np.sqrt(2 * np.log(2))  # where a Gaussian falls to half its peak
    xmin, ymin, xmax, ymax = strong.box
    assert xmin == pytest.approx(170 - half_width, abs=1.5) and xmax == pytest.approx(171 + half_width, abs=1.5)
    assert ymin == pytest.approx(140 - half_width, abs=1.5) and ymax == pytest.approx(141 + half_width, abs=1.5)
    assert weak.box[0] < 70 < weak.box[2] and weak.box[1] < 60 < weak.box[3]
    assert all(candidate.side == "L" for candidate in candidates)
    # peaks closer than min_distance merge into the stronger one; max_candidates cuts the list
    assert len(extract_candidates(score_map, min_distance=150)) == 1
    assert [c.score for c in extract_candidates(score_map, min_distance=20, max_candidates=1)] == [strong.score]
    assert extract_candidates(np.zeros((20, 20))) == []
    # on a smooth map, looking at every 4th pixel finds the same candidates, peaks within half a step
    coarse = extract_candidates(score_map, side="L", min_distance=20, max_candidates=5, step=4)
    assert len(coarse) == 2
    for fine, approx in zip(candidates, coarse):
        assert approx.score == pytest.approx(fine.score, rel=0.06) and approx.score <= fine.score
        assert np.allclose(approx.centre, fine.centre, atol=2) and np.allclose(approx.box, fine.box, atol=3)


# ---- geometry: maps go back onto the original images ----

HAND_GEOMETRY = {
    "L": {"path": "l.png", "original_shape": (120, 100), "flipped": False, "crop_box": (10, 0, 110, 80), "scale": 0.5},
    "R": {"path": "r.png", "original_shape": (120, 100), "flipped": True, "crop_box": (6, 4, 116, 90), "scale": 0.5,
          "affine": {"scale": (1.1, 0.9), "shift": (2.0, -1.5)}},
}


def _reference_frame_index(original_yx, side):
    """Forward map of an original pixel to the exam's reference frame, as the reader and the aligner do it."""
    meta = HAND_GEOMETRY[side]
    output_xy = original_to_output([[original_yx[1] + 0.5, original_yx[0] + 0.5]], meta)[0] - 0.5
    yx = output_xy[::-1]
    if side == "R":
        affine = AxisAlignedAffine(tuple(meta["affine"]["scale"]), tuple(meta["affine"]["shift"]))
        yx = affine.moving_to_reference(yx)
    return yx


@pytest.mark.parametrize("side, original_yx", [("L", (60, 30)), ("R", (70, 72)), ("R", (40, 85))])
def test_a_hot_pixel_maps_back_onto_its_original_position(side, original_yx):
    reference_yx = np.rint(_reference_frame_index(original_yx, side)).astype(int)
    heat = np.zeros((50, 40), dtype=np.float32)
    heat[tuple(reference_yx)] = 1.0
    back = heatmap_to_original(heat, HAND_GEOMETRY, side)
    assert back.shape == (120, 100)
    peak = np.unravel_index(np.argmax(back), back.shape)
    assert abs(peak[0] - original_yx[0]) <= 2 and abs(peak[1] - original_yx[1]) <= 2
    # the point map agrees with the heatmap resampling
    centre_xy = points_to_original([[reference_yx[1] + 0.5, reference_yx[0] + 0.5]], HAND_GEOMETRY, side)[0]
    assert abs(centre_xy[0] - (peak[1] + 0.5)) <= 1.5 and abs(centre_xy[1] - (peak[0] + 0.5)) <= 1.5


BRIGHT_BOX = (120, 110, 150, 140)  # xmin, ymin, xmax, ymax in the right breast's stored (chest wall right) image


def _exam_files(folder: Path, views=("CC",), sides=("L", "R")) -> list[Path]:
    paths = []
    for view in views:
        for side in sides:
            image, _ = synthetic_breast((256, 200), chest_wall="left" if side == "L" else "right", seed=len(paths))
            if side == "R":
                xmin, ymin, xmax, ymax = BRIGHT_BOX
                image[ymin:ymax, xmin:xmax] = 1.0
            paths.append(write_mammogram_dicom(folder / f"{side}_{view}.dcm", image, laterality=side, view=view,
                                               pixel_spacing=0.25))
    return paths


def test_exam_maps_go_back_onto_the_original_mirrored_cropped_files(tmp_path):
    paths = _exam_files(tmp_path)
    (exam,), single = exams_from_images(paths, "s1", spacing=0.5)
    assert not single and exam.geometry["R"]["flipped"] and exam.geometry["R"]["crop_box"] != (0, 0, 256, 200)
    stack = exam.load().astype(np.float32)
    for side, channel in (("L", 0), ("R", 1)):
        original, _ = synthetic_breast((256, 200), chest_wall="left" if side == "L" else "right", seed=channel)
        if side == "R":
            original[BRIGHT_BOX[1]:BRIGHT_BOX[3], BRIGHT_BOX[0]:BRIGHT_BOX[2]] = 1.0
        back = heatmap_to_original(stack[channel] * stack[2 + channel], exam.geometry, side)
        inside = back > 0.05
        assert inside.mean() > 0.3
        assert np.corrcoef(back[inside], original[inside])[0, 1] > 0.9
    xmin, ymin, xmax, ymax = BRIGHT_BOX
    back = heatmap_to_original(stack[1], exam.geometry, "R")
    assert back[ymin + 3 : ymax - 3, xmin + 3 : xmax - 3].min() > 0.9  # the bright square is back in place


# ---- the detector: calibration, persistence, exams with one breast ----


@dataclass
class FakeExam:
    """An exam stand-in: two textured breasts filling the frame, optionally with a bright blob on one side."""

    key: str
    lesion_side: int | None = None
    seed: int = 0
    study_id: str = "s"
    view: str = "CC"
    geometry: dict = field(default_factory=dict)

    @property
    def is_normal_pair(self) -> bool:
        return self.lesion_side is None

    def load(self, mmap: bool = True) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        tissue = 0.5 + 0.1 * rng.standard_normal((2, 128, 96))
        if self.lesion_side is not None:
            tissue[self.lesion_side] += _blob((128, 96), (64, 48), 8.0, 0.8)
        return np.concatenate([tissue, np.ones((2, 128, 96))]).astype(np.float16)


def _fitted_raw_detector() -> AsymmetryDetector:
    exams = [FakeExam(f"n{i}", seed=i) for i in range(4)] + [FakeExam("a", lesion_side=1, seed=9)]
    return AsymmetryDetector(RawPixelDenseEmbedder(patch_size=32, stride=8, grid=4), max_candidates=3).fit(exams)


def test_detector_finds_the_blob_on_the_right_side_and_round_trips(tmp_path):
    detector = _fitted_raw_detector()
    exam = FakeExam("t", lesion_side=1, seed=20)
    detection = detector.predict_exam(exam)
    assert set(detection.heatmaps) == {"L", "R"}
    for heat in detection.heatmaps.values():
        assert heat.shape == (128, 96) and heat.dtype == np.float32 and 0 <= heat.min() and heat.max() <= 1
    best = detection.candidates[0]
    assert best.side == "R" and best.box[0] < 48 < best.box[2] and best.box[1] < 64 < best.box[3]
    assert detection.score == best.score
    assert detection.heatmaps["R"][64, 48] > detection.heatmaps["L"][64, 48]

    path = detector.save(tmp_path / "detector.json")
    payload = json.loads(path.read_text())
    assert len(payload["gmm"]["means"]) == 2 and len(payload["normal_reference"]["mean"]) == 16
    loaded = AsymmetryDetector.load(path, RawPixelDenseEmbedder(patch_size=32, stride=8, grid=4))
    again = loaded.predict_exam(exam)
    np.testing.assert_array_equal(again.heatmaps["R"], detection.heatmaps["R"])
    assert again.candidates == detection.candidates and loaded.max_candidates == 3
    with pytest.raises(ValueError, match="calibrated for embedder"):
        AsymmetryDetector.load(path, RawPixelDenseEmbedder(patch_size=96))


def test_detector_explains_missing_calibration(tmp_path):
    detector = AsymmetryDetector(RawPixelDenseEmbedder())
    with pytest.raises(NotFittedError, match="not calibrated: call fit"):
        detector.predict_exam(FakeExam("x"))
    with pytest.raises(FileNotFoundError, match="no detector calibration"):
        AsymmetryDetector.load(tmp_path / "missing.json", RawPixelDenseEmbedder())


def test_without_normal_exams_the_reference_comes_from_every_exam_with_a_warning(caplog):
    """CBIS-DDSM lists only breasts holding a lesion, so none of its exams has two normal breasts."""
    lesions = [FakeExam("a", lesion_side=0), FakeExam("b", lesion_side=1)]
    detector = AsymmetryDetector(RawPixelDenseEmbedder(patch_size=32, stride=8, grid=4)).fit(lesions)
    assert "none of the 2 fit exams has two normal breasts" in caplog.text
    assert detector.n_exams_fit_ == 2 and detector.normal_reference_ is not None
    # with a normal exam among them, the reference is fitted on it alone, as before
    caplog.clear()
    mixed = AsymmetryDetector(RawPixelDenseEmbedder(patch_size=32, stride=8, grid=4)).fit([*lesions, FakeExam("n")])
    normal_only = AsymmetryDetector(RawPixelDenseEmbedder(patch_size=32, stride=8, grid=4)).fit([FakeExam("n")])
    assert "two normal breasts" not in caplog.text
    np.testing.assert_allclose(mixed.normal_reference_.mean, normal_only.normal_reference_.mean)


def test_single_breast_view_is_reported_and_the_other_view_processed(tmp_path):
    paths = _exam_files(tmp_path, views=("CC",)) + _exam_files(tmp_path, views=("MLO",), sides=("L",))
    exams, single = exams_from_images(paths, "s2", spacing=0.5)
    assert [exam.view for exam in exams] == ["CC"]
    assert [(view.view, view.side) for view in single] == [("MLO", "L")]
    assert "no asymmetry map" in single[0].message and "R breast" in single[0].message

    embedder = RawPixelDenseEmbedder(patch_size=32, stride=8, grid=4)
    detector = AsymmetryDetector(embedder).fit([FakeExam("n0"), FakeExam("n1", seed=1)])
    summary = json.loads(StudyWriter(tmp_path / "out", overlays=False)(
        "s2", [detector.predict_exam(exam) for exam in exams], single).read_text())
    views = {view["view"]: view for view in summary["views"]}
    assert views["MLO"]["status"] == "single breast" and "no asymmetry map" in views["MLO"]["message"]
    assert views["CC"]["status"] == "ok" and summary["score"] == views["CC"]["score"]
    assert (tmp_path / "out" / "s2" / "CC_R_heatmap.nii.gz").exists()
    assert not list((tmp_path / "out" / "s2").glob("MLO_*"))


# ---- the bundle's study-level detection config and the command line ----


def _detect_workflow(bundle_root: Path, dataset_dir: Path, **overrides) -> ConfigWorkflow:
    return ConfigWorkflow(
        config_file=str(CONFIGS / "detect.json"), meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"), workflow_type="infer", bundle_root=str(bundle_root),
        dataset_dir=str(dataset_dir), **overrides,
    )


def test_detect_config_has_every_required_property(tmp_path, synthetic_vindr):
    workflow = _detect_workflow(tmp_path, synthetic_vindr)
    workflow.initialize()
    assert workflow.check_properties() == []


def test_detect_config_then_cli_write_heatmaps_overlays_and_json(tmp_path, synthetic_vindr, capsys):
    models = tmp_path / "models"
    models.mkdir()
    torch.save(seeded_encoder(0, normalize=True).state_dict(), models / "model.pt")
    # calibrating on the small validation split keeps the test fast; it holds a study with two normal breasts
    workflow = _detect_workflow(tmp_path, synthetic_vindr, calibration_split="val", prepare_workers=0)
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    calibration = json.loads((models / "detector.json").read_text())
    assert calibration["embedder"]["type"] == "EncoderDenseEmbedder" and calibration["n_exams_fit"] > 0
    studies = sorted((tmp_path / "detection").iterdir())
    assert studies
    summary = json.loads((studies[0] / "detection.json").read_text())
    assert {view["view"] for view in summary["views"]} == {"CC", "MLO"}

    # the command line on one study's files without its right MLO image, reusing that calibration
    table = pd.read_csv(synthetic_vindr / "breast-level_annotations.csv")
    study_id = table["study_id"].iloc[0]
    rows = table[(table["study_id"] == study_id) & ~((table["laterality"] == "R") & (table["view_position"] == "MLO"))]
    images = [str(synthetic_vindr / "images" / study_id / f"{image_id}.dicom") for image_id in rows["image_id"]]
    out = tmp_path / "cli"
    heatmap(str(tmp_path), images=",".join(images), out=str(out))
    printed = capsys.readouterr().out
    assert "warning: MLO: only the L breast was given" in printed and "outputs written to" in printed
    folder = out / study_id
    summary = json.loads((folder / "detection.json").read_text())
    views = {view["view"]: view for view in summary["views"]}
    assert views["MLO"]["status"] == "single breast" and summary["score"] == views["CC"]["score"]
    for entry in views["CC"]["images"].values():
        original = nib.load(folder / entry["heatmap"]).get_fdata().T
        assert original.shape[0] > 200 and 0 <= original.min() and original.max() <= 1
        assert (folder / entry["overlay"]).stat().st_size > 1000
        for candidate in entry["candidates"]:
            xmin, ymin, xmax, ymax = candidate["box"]
            assert 0 <= xmin < xmax <= original.shape[1] and 0 <= ymin < ymax <= original.shape[0]


def test_cli_names_what_is_missing(tmp_path, synthetic_vindr):
    with pytest.raises(ValueError, match="either --images"):
        heatmap(str(tmp_path))
    study = tmp_path / "study"
    shutil.copytree(next((synthetic_vindr / "images").iterdir()), study)
    with pytest.raises(FileNotFoundError, match="detector.json: no detector calibration"):
        heatmap(str(tmp_path), study=str(study))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "detector.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.pt: no trained encoder"):
        heatmap(str(tmp_path), study=str(study))


def test_evaluate_detection_tests_on_the_benchmark_with_paired_differences(tmp_path, synthetic_vindr):
    """python -m custom evaluate-detection on a bundle trained on synthetic data: calibrated on the bundle's
    training exams, tested on the benchmark's evaluation set (the tests' tiny stand-in), with the Siamese
    detector's paired differences to bilateral subtraction and to the raw-pixel embedding."""
    from custom.mammography.detection.evaluate_run import evaluate_detection_run
    from custom.networks import seeded_encoder

    bundle = tmp_path / "bundle"
    shutil.copytree(synthetic_vindr, bundle / "data" / "synthetic")
    (bundle / "models").mkdir()
    torch.save(seeded_encoder(0, normalize=True).state_dict(), bundle / "models" / "model.pt")
    summary = evaluate_detection_run(str(bundle), str(tmp_path / "out"), n_bootstrap=50)
    assert "benchmark evaluation set" in summary["tested_on"]
    assert set(summary) >= {"siamese", "bilateral_subtraction", "raw_pixel", "siamese_minus"}
    for reference in ("bilateral_subtraction", "raw_pixel"):
        difference = summary["siamese_minus"][reference]["exam_auc"]
        expected = summary["siamese"]["exam_auc"]["value"] - summary[reference]["exam_auc"]["value"]
        assert difference["value"] == pytest.approx(expected)
        assert difference["ci_low"] <= difference["value"] <= difference["ci_high"]
    assert (tmp_path / "out" / "bilateral_subtraction.json").exists() and (tmp_path / "out" / "froc.png").exists()
