"""The ultrasound bundle's configs run through MONAI's ConfigWorkflow on the synthetic test preset: pretraining
with every method, fine-tuning from random and from a pretrained encoder, evaluation and inference."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow
from monai.networks.nets import FlexibleUNet
from PIL import Image

from custom.networks import ExportableFlexibleUNet, seeded_encoder
from custom.ultrasound.data_source import UltrasoundDataSource, label_fraction_groups
from custom.ultrasound.initialisation import initialise_network
from custom.ultrasound.pretraining import pretraining_network
from custom.ultrasound.synthetic import synth_us

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "bundles" / "breast_us_multiorgan_seg" / "configs"
SMALL = {"image_size": 32, "val_fraction": 0.25, "test_fraction": 0.25, "synthetic_preset": "test"}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("us_bundle") / "synthetic_us"
    synth_us(root, seed=0, preset="test")
    return root


def _run(config_files, bundle_root: Path, dataset_dir: Path, workflow_type: str = "train", run_id="training",
         **overrides) -> ConfigWorkflow:
    files = [str(CONFIGS / name) for name in config_files]
    workflow = ConfigWorkflow(
        config_file=files if len(files) > 1 else files[0], meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"), workflow_type=workflow_type, run_id=run_id,
        bundle_root=str(bundle_root), dataset_dir=str(dataset_dir), **overrides)
    workflow.initialize()
    assert workflow.check_properties() == []
    workflow.run()
    workflow.finalize()
    return workflow


@pytest.fixture(scope="module")
def pretrained(synthetic, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pretrain")
    _run(["pretrain.json"], root, synthetic, max_epochs=1, batch_size=8, image_size=32,
         synthetic_preset="test")
    return root / "models" / "pretrained" / "simclr_pocus_camus" / "model.pt"


@pytest.mark.parametrize("method", ["moco", "simsiam"])
def test_pretraining_with_the_other_methods_writes_an_encoder(synthetic, tmp_path, method):
    _run(["pretrain.json"], tmp_path, synthetic, max_epochs=1, batch_size=8, image_size=32,
         synthetic_preset="test", ssl_method=method, pretrain_sources=["imagefolder"])
    state = torch.load(tmp_path / "models" / "pretrained" / f"{method}_imagefolder" / "model.pt", weights_only=True)
    seeded_encoder(0, backbone="resnet18_features").load_state_dict(state)


def test_interrupted_pretraining_resumes_to_the_weights_of_an_uninterrupted_one(synthetic, tmp_path):
    settings = dict(batch_size=8, image_size=32, synthetic_preset="test", pretrain_sources=["imagefolder"],
                    ssl_method="moco")
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    _run(["pretrain.json"], straight, synthetic, max_epochs=2, **settings)
    _run(["pretrain.json"], interrupted, synthetic, max_epochs=1, **settings)
    _run(["pretrain.json"], interrupted, synthetic, max_epochs=2, **settings)
    folder = Path("models") / "pretrained" / "moco_imagefolder"
    expected = torch.load(straight / folder / "checkpoint_epoch=2.pt", weights_only=True)
    resumed = torch.load(interrupted / folder / "checkpoint_epoch=2.pt", weights_only=True)
    assert resumed["trainer"] == expected["trainer"]
    for key, value in expected["network"].items():  # encoder, heads, key network and queue
        torch.testing.assert_close(resumed["network"][key], value, rtol=0, atol=0, msg=f"{key} differs after resume")
    torch.testing.assert_close(resumed["augment"]["generator"], expected["augment"]["generator"], rtol=0, atol=0)


def test_fine_tuning_from_a_pretrained_encoder_then_evaluation(synthetic, pretrained, tmp_path):
    _run(["train.json"], tmp_path, synthetic, max_epochs=1, init=str(pretrained), label_fraction=0.5, **SMALL)
    assert (tmp_path / "models" / "model.pt").is_file()
    _run(["train.json", "evaluate.json"], tmp_path, synthetic, run_id="evaluating", init=str(pretrained),
         label_fraction=0.5, **SMALL)
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    test_rows = UltrasoundDataSource(synthetic, manifest_file=str(tmp_path / "data" / "busi_manifest.csv")).rows("test")
    with open(tmp_path / "eval" / "scores.csv") as handle:
        scores = list(csv.DictReader(handle))
    assert summary["n_images"] == len(scores) == len(test_rows) > 0
    assert summary["method"] == "simclr_pocus_camus" and summary["label_fraction"] == 0.5
    assert 0.0 <= summary["dice_low"] <= summary["dice"] <= summary["dice_high"] <= 1.0
    assert {row["image_id"] for row in scores} == {row["image_id"] for row in test_rows}


def test_initialise_network_loads_every_backbone_weight(pretrained):
    network = initialise_network(
        FlexibleUNet(in_channels=1, out_channels=2, backbone="resnet18", spatial_dims=2, pretrained=False),
        str(pretrained))
    state = torch.load(pretrained, weights_only=True)
    assert torch.equal(network.encoder.conv1.weight, state["backbone.conv1.weight"])
    with pytest.raises(FileNotFoundError, match="no pretrained weights"):
        initialise_network(network, str(pretrained.parent / "missing.pt"))


def test_encoder_decoder_pretraining_initialises_all_but_the_head(synthetic, tmp_path):
    """pretrained_part encoder_decoder: the pretrained file holds the encoder and the decoder, which the
    segmentation network takes whole; its head keeps its own initialisation."""
    _run(["pretrain.json"], tmp_path, synthetic, max_epochs=1, batch_size=8, image_size=32,
         synthetic_preset="test", pretrain_sources=["imagefolder"], pretrained_part="encoder_decoder")
    path = tmp_path / "models" / "pretrained" / "simclr_imagefolder_encoder_decoder" / "model.pt"
    state = torch.load(path, weights_only=True)
    network = ExportableFlexibleUNet(in_channels=1, out_channels=2, backbone="resnet18", spatial_dims=2,
                                     pretrained=False)
    head = network.segmentation_head[0].weight.clone()
    initialise_network(network, str(path))
    loaded = network.state_dict()
    assert {key.split(".")[0] for key in state} == {"encoder", "decoder"}
    assert all(torch.equal(loaded[key], value) for key, value in state.items())
    assert torch.equal(network.segmentation_head[0].weight, head)
    other = ExportableFlexibleUNet(in_channels=1, out_channels=2, backbone="resnet18", spatial_dims=2,
                                   pretrained=False, decoder_channels=(128, 64, 32, 16, 8))
    with pytest.raises(ValueError, match="cannot initialise the FlexibleUNet"):
        initialise_network(other, str(path))
    with pytest.raises(ValueError, match="pretrained_part must be one of"):
        pretraining_network("decoder")


def test_label_fractions_are_nested_and_keep_every_class(synthetic, tmp_path):
    data = UltrasoundDataSource(synthetic, manifest_file=str(tmp_path / "manifest.csv"), val_fraction=0.25,
                                test_fraction=0.25)
    train = data.manifest[data.manifest["split"] == "train"]
    kept = {fraction: label_fraction_groups(train, fraction, seed=0) for fraction in (0.1, 0.25, 0.5, 1.0)}
    assert kept[0.1] <= kept[0.25] <= kept[0.5] <= kept[1.0] == set(train["group_id"])
    classes = set(train[train["group_id"].isin(kept[0.1])]["class_name"])
    assert classes == set(train["class_name"])
    assert len(data.rows("train", 0.5)) < len(data.rows("train")) and "label" not in data.rows("val", masks=False)[0]
    with pytest.raises(ValueError, match="label_fraction must lie in"):
        data.rows("train", 0.0)


def test_inference_writes_a_mask_in_the_image_own_grid(synthetic, tmp_path):
    """A non-square image: the mask comes back in its own height and width (no transposition), binary."""
    bundle_root = tmp_path / "bundle"
    (bundle_root / "models").mkdir(parents=True)
    network = FlexibleUNet(in_channels=1, out_channels=2, backbone="resnet18", spatial_dims=2, pretrained=False)
    torch.save(network.state_dict(), bundle_root / "models" / "model.pt")
    images = tmp_path / "images"
    images.mkdir()
    source = np.array(Image.open(next((synthetic / "Dataset_BUSI_with_GT" / "benign").glob("* (1).png"))))
    Image.fromarray(source[:96]).save(images / "case.png")
    workflow = ConfigWorkflow(config_file=str(CONFIGS / "inference.json"), meta_file=str(CONFIGS / "metadata.json"),
                              workflow_type="infer", bundle_root=str(bundle_root), image_dir=str(images), image_size=32)
    workflow.initialize()
    assert workflow.check_properties() == []
    workflow.run()
    mask = np.array(Image.open(bundle_root / "eval" / "masks" / "case_mask.png"))
    assert mask.shape == source[:96].shape[:2] and set(np.unique(mask)) <= {0, 255}


def test_inference_and_training_see_the_same_image(synthetic, tmp_path):
    """The inference pipeline (MONAI's PIL reader, for MONAI Label) and the training one (the manifest's
    loader) give the network the same array."""
    path = next((synthetic / "Dataset_BUSI_with_GT" / "malignant").glob("* (1).png"))
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    parser["image_size"] = 32
    inferred = parser.get_parsed_content("preprocessing")({"image": str(path)})["image"]
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "train.json"))
    parser["image_size"] = 32
    transforms = parser.get_parsed_content("load_transforms")
    item = {"image": str(path), "label": ""}
    for transform in transforms:
        item = transform(item)
    np.testing.assert_allclose(np.asarray(inferred), np.asarray(item["image"]), atol=1e-5)


def test_metadata_validates_against_the_bundle_schema():
    schema = json.loads((REPO / "tests" / "data" / "meta_schema_20240725.json").read_text())
    jsonschema.validate(json.loads((CONFIGS / "metadata.json").read_text()), schema)


def test_an_empty_split_is_named(synthetic, tmp_path):
    data = UltrasoundDataSource(synthetic, manifest_file=str(tmp_path / "m.csv"), val_fraction=0.0)
    with pytest.raises(ValueError, match="no busi images in the 'val' split"):
        data.rows("val")
    shutil.rmtree(tmp_path)
