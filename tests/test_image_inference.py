"""``inference.json``: one image in, its heatmap and candidates out, run as MONAI Label's bundle inference task
runs it (preprocessing ``Compose`` -> ``inferer(inputs, network)`` -> postprocessing ``Compose``) and as
``monai.bundle run`` runs it over a folder. Its outputs must be the study-level pipeline's for the same image."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow
from monai.transforms import Compose, SaveImaged

from custom.mammography.detection import LoadContralateralExamd
from custom.mammography.detection.cli import heatmap
from custom.networks import seeded_encoder
from tests.layout_fixtures import flat_datastore

CONFIGS = Path(__file__).resolve().parents[1] / "bundles" / "mammo_siamese_softlabel" / "configs"


def _workflow(config: str, bundle: Path, **overrides) -> ConfigWorkflow:
    return ConfigWorkflow(config_file=str(CONFIGS / config), meta_file=str(CONFIGS / "metadata.json"),
                          logging_file=str(CONFIGS / "logging.conf"), workflow_type="infer", bundle_root=str(bundle),
                          **overrides)


@pytest.fixture(scope="module")
def calibrated_bundle(tmp_path_factory, synthetic_vindr) -> Path:
    """A bundle folder with an encoder and the detector calibration that detect.json fits for it."""
    bundle = tmp_path_factory.mktemp("bundle")
    (bundle / "models").mkdir()
    torch.save(seeded_encoder(0, normalize=True).state_dict(), bundle / "models" / "model.pt")
    workflow = _workflow("detect.json", bundle, dataset_dir=str(synthetic_vindr), calibration_split="val",
                         prepare_workers=0, split="val")
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    return bundle


@pytest.fixture()
def exam_folder(tmp_path, synthetic_vindr) -> tuple[Path, list[Path]]:
    """A flat datastore: one study's four images and one image whose other breast is not there."""
    folder = tmp_path / "datastore"
    images, _ = flat_datastore(synthetic_vindr, folder)
    return folder, images


def test_inference_config_has_every_required_property(tmp_path):
    workflow = _workflow("inference.json", tmp_path)
    workflow.initialize()
    assert workflow.check_properties() == []


def test_monai_label_way_gives_the_command_lines_heatmap_and_candidates(calibrated_bundle, exam_folder, tmp_path):
    folder, images = exam_folder
    heatmap(str(calibrated_bundle), images=[str(image) for image in images], out=str(tmp_path / "cli"))
    (summary_file,) = (tmp_path / "cli").glob("*/detection.json")
    expected = {Path(entry["path"]).name: (view, entry) for view in json.loads(summary_file.read_text())["views"]
                for entry in view["images"].values()}

    # what MONAI Label's BundleInferTask does with the config: parse, instantiate, run the three stages
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    parser["bundle_root"] = str(calibrated_bundle)
    preprocessing = parser.get_parsed_content("preprocessing")
    postprocessing = parser.get_parsed_content("postprocessing")
    assert isinstance(preprocessing, Compose) and isinstance(postprocessing, Compose)
    assert "detector" not in parser.config  # MONAI Label would call it as its detection hook
    network = parser.get_parsed_content("network_def")
    network.load_state_dict(torch.load(calibrated_bundle / "models" / "model.pt", weights_only=True))
    network.eval()
    inferer = parser.get_parsed_content("inferer")
    keep = [t for t in postprocessing.transforms if not isinstance(t, SaveImaged)]  # MONAI Label filters it out

    for image in images:
        data = preprocessing({"image": str(image)})
        with torch.no_grad():
            data["pred"] = inferer(data["image"][None], network)[0]
        assert tuple(data["pred"].shape) == (2, *data["image"].shape[1:])
        data = Compose(keep)(data)
        view, entry = expected[image.name]
        reference = nib.load(summary_file.parent / entry["heatmap"]).get_fdata()
        assert data["pred"].shape == reference.shape  # x-first, no channel: a 2-D label of the image
        np.testing.assert_allclose(np.asarray(data["pred"]), reference, atol=1e-5)
        result = data["result"]
        assert result["exam_score"] == pytest.approx(view["score"])
        assert Path(result["contralateral_image"]).name in {Path(e["path"]).name for e in view["images"].values()}
        assert [c["rank"] for c in result["candidates"]] == [c["rank"] for c in entry["candidates"]]
        for served, written in zip(result["candidates"], entry["candidates"]):
            assert served["score"] == pytest.approx(written["score"])
            np.testing.assert_allclose(served["box"], written["box"], atol=1e-6)


def test_bundle_run_writes_each_images_heatmap_and_json_and_skips_a_lone_breast(calibrated_bundle, exam_folder,
                                                                               tmp_path, capsys):
    folder, images = exam_folder
    out = tmp_path / "heatmaps"
    workflow = _workflow("inference.json", calibrated_bundle, image_dir=str(folder), output_dir=str(out))
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    for image in images:
        result = json.loads((out / f"{image.stem}_asymmetry.json").read_text())
        assert result["image"] == str(image) and 0 <= result["exam_score"] <= 1
        label = nib.load(out / f"{image.stem}_asymmetry.nii.gz")
        assert label.shape[:2] == tuple(reversed(_rows_columns(image)))
        assert 0 <= label.get_fdata().min() and label.get_fdata().max() <= 1
    lone = sorted(set(folder.glob("*.dcm")) - set(images))
    assert len(lone) == 1 and not list(out.glob(f"{lone[0].stem}_*"))
    printed = capsys.readouterr().out
    assert "asymmetry heatmaps of 4 images" in printed and f"{lone[0]}: {lone[0].name}: no image of the other" in printed


def test_a_missing_other_breast_is_named(exam_folder):
    folder, images = exam_folder
    lone = sorted(set(folder.glob("*.dcm")) - set(images))[0]
    with pytest.raises(LookupError, match=rf"{lone.name}: no image of the other breast \(R CC\)"):
        LoadContralateralExamd(keys="image")({"image": str(lone)})


def _rows_columns(path: Path) -> tuple[int, int]:
    import pydicom

    header = pydicom.dcmread(path, stop_before_pixels=True)
    return int(header.Rows), int(header.Columns)
