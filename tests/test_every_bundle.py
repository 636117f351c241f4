"""Checks every folder in bundles/ must pass, whatever its modality: a metadata file that validates against
MONAI's bundle schema, a licence and a model card, config files that parse, and an inference config that holds
every property MONAI requires. The train configs' properties are checked by each bundle's training test
(tests/test_bundle_training.py, tests/test_us_bundle.py): resolving them builds the training data."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from monai.bundle import ConfigParser, ConfigWorkflow

REPO = Path(__file__).resolve().parents[1]
BUNDLES = sorted(path for path in (REPO / "bundles").iterdir() if (path / "configs").is_dir())
SCHEMA = json.loads((REPO / "tests" / "data" / "meta_schema_20240725.json").read_text())


def test_there_are_two_bundles():
    assert [bundle.name for bundle in BUNDLES] == ["breast_us_multiorgan_seg", "mammo_siamese_softlabel"]


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda path: path.name)
def test_metadata_licence_and_model_card(bundle):
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    jsonschema.validate(metadata, SCHEMA)
    assert metadata["version"] in metadata["changelog"]
    assert (bundle / "LICENSE").is_file() and (bundle / "docs" / "README.md").is_file()


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda path: path.name)
def test_every_config_parses(bundle):
    for config in sorted((bundle / "configs").glob("*.json")):
        ConfigParser.load_config_file(config)


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda path: path.name)
def test_inference_properties(bundle, tmp_path):
    workflow = ConfigWorkflow(config_file=str(bundle / "configs" / "inference.json"),
                              meta_file=str(bundle / "configs" / "metadata.json"), workflow_type="infer",
                              bundle_root=str(tmp_path))
    workflow.initialize()
    assert workflow.check_properties() == []


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda path: path.name)
def test_presets_only_override_keys_the_training_config_defines(bundle):
    """A budget preset (``configs/preset_<name>.json``, laid over ``train.json``) that named an unknown key would
    be refused at run time; here every preset's keys are checked against the training config."""
    train = ConfigParser.load_config_file(bundle / "configs" / "train.json")
    for preset in sorted((bundle / "configs").glob("preset_*.json")):
        unknown = sorted(set(ConfigParser.load_config_file(preset)) - set(train))
        assert not unknown, f"{preset.name}: {unknown}"
