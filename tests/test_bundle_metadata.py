"""Checks of the mammo_siamese_softlabel bundle's configs/metadata.json (and its logging.conf).

The metadata must validate against the MONAI bundle schema (local copy in tests/data, no network), use
``required_packages_version`` rather than the deprecated ``optional_packages_version``, and name only
packages that are installed here with the same major version.
"""

from __future__ import annotations

import configparser
import copy
import importlib.metadata
import importlib.util
import json
import logging
import logging.config
import numbers
import re
import shutil
from pathlib import Path

import jsonschema
import pytest

from custom.layers import CORE, MODALITIES

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLE_ROOT = REPO_ROOT / "bundles" / "mammo_siamese_softlabel"
META_FILE = BUNDLE_ROOT / "configs" / "metadata.json"
LOGGING_CONF = BUNDLE_ROOT / "configs" / "logging.conf"
SCHEMA_FILE = REPO_ROOT / "tests" / "data" / "meta_schema_20240725.json"
SCHEMA_URL = (
    "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20240725.json"
)
# md5 of the public schema file; verify_metadata checks the local copy against it (and so would any download).
SCHEMA_MD5 = "06954cad2cc5d3784e72077ac76f0fc8"

# Packages the bundle needs beyond MONAI's base requirements (distribution names, as pip spells them).
EXPECTED_REQUIRED_PACKAGES = {
    "pydicom",
    "pylibjpeg",
    "pylibjpeg-libjpeg",
    "pylibjpeg-openjpeg",
    "pylibjpeg-rle",
    "scikit-learn",
    "pytorch-ignite",
    "fire",
    "SimpleITK",
    "scikit-image",
    "pandas",
    "nibabel",
    "tensorboard",
    "matplotlib",
    "scipy",
    "threadpoolctl",
    "tqdm",
    "pillow",
    "filelock",
}
# what MONAI itself installs with: a bundle needs not list these
MONAI_BASE_PACKAGES = {"torch", "numpy", "monai"}


def _load_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def metadata() -> dict:
    return _load_json(META_FILE)


@pytest.fixture(scope="module")
def schema() -> dict:
    return _load_json(SCHEMA_FILE)


def _validate(instance: dict, schema: dict) -> None:
    """Validates with the validator class the schema's ``$schema`` names (draft 2019-09 here)."""
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    cls(schema).validate(instance)


def _major(version: str) -> str:
    return version.split("+")[0].split(".")[0]


# --- schema validation ---------------------------------------------------------------------------------


def test_metadata_validates_against_schema(metadata, schema):
    _validate(metadata, schema)


def test_schema_field_points_at_the_schema_used(metadata):
    assert metadata["schema"] == SCHEMA_URL
    assert metadata["schema"].rsplit("/", 1)[-1] == SCHEMA_FILE.name


@pytest.mark.parametrize(
    "key",
    _load_json(SCHEMA_FILE)["required"],
)
def test_removing_a_required_key_fails_validation(metadata, schema, key):
    """Proves the validation test can fail: each required key, once removed, is reported."""
    broken = copy.deepcopy(metadata)
    assert key in broken, f"metadata lacks the required key {key!r}"
    del broken[key]
    with pytest.raises(jsonschema.ValidationError, match=key):
        _validate(broken, schema)


def test_wrong_type_fails_validation(metadata, schema):
    broken = copy.deepcopy(metadata)
    broken["network_data_format"]["inputs"]["image"]["num_channels"] = "one"
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken, schema)


def _no_network(*args, **kwargs):
    raise AssertionError("verify_metadata tried to download the schema; it must use the local copy")


@pytest.fixture
def local_schema(tmp_path, monkeypatch) -> Path:
    """A copy of the local schema for verify_metadata, with every download path blocked."""
    import urllib.request

    import monai.apps.utils

    monkeypatch.setattr(monai.apps.utils, "_download_with_progress", _no_network)
    monkeypatch.setattr(monai.apps.utils, "urlopen", _no_network, raising=False)
    monkeypatch.setattr(urllib.request, "urlretrieve", _no_network)
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    path = tmp_path / "schema" / SCHEMA_FILE.name
    path.parent.mkdir()
    shutil.copyfile(SCHEMA_FILE, path)
    return path


def test_monai_verify_metadata_offline(local_schema):
    from monai.bundle import verify_metadata

    # The schema file exists at `filepath`, so download_url skips the download (and the network is blocked).
    verify_metadata(meta_file=str(META_FILE), filepath=str(local_schema), hash_val=SCHEMA_MD5, hash_type="md5")


def test_monai_verify_metadata_rejects_broken_metadata(local_schema, metadata, tmp_path):
    from monai.bundle import verify_metadata

    broken = copy.deepcopy(metadata)
    del broken["network_data_format"]
    broken_file = tmp_path / "metadata.json"
    broken_file.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(ValueError, match="network_data_format"):
        verify_metadata(meta_file=str(broken_file), filepath=str(local_schema), hash_val=SCHEMA_MD5, hash_type="md5")


# --- packages ------------------------------------------------------------------------------------------


def test_uses_required_not_optional_packages(metadata):
    assert "optional_packages_version" not in metadata, "optional_packages_version is deprecated"
    assert isinstance(metadata.get("required_packages_version"), dict)
    assert set(metadata["required_packages_version"]) == EXPECTED_REQUIRED_PACKAGES


def _import_names(distribution: str) -> list[str]:
    """Top-level import names a distribution provides (e.g. scikit-learn -> sklearn)."""
    mapping = importlib.metadata.packages_distributions()
    wanted = distribution.lower().replace("_", "-")
    return sorted(
        module
        for module, dists in mapping.items()
        if any(d.lower().replace("_", "-") == wanted for d in dists) and not module.startswith("_")
    )


def test_every_package_the_code_imports_is_required(metadata):
    # a bundle runs where only MONAI and its required packages are installed: a module that the code
    # imports from any other distribution (tqdm, say) would fail there, on first use
    import ast
    import sys

    distributions = importlib.metadata.packages_distributions()
    imported = set()
    # what the bundle ships: the core and the mammography modality, not the tools (the exporter, the PACS
    # connection: the project's extras) nor the ultrasound modality, which this bundle never runs
    shipped = {package.split(".")[1] for package in CORE + MODALITIES["mammography"]}
    for path in (REPO_ROOT / "custom").rglob("*.py"):
        if path.relative_to(REPO_ROOT / "custom").parts[0].removesuffix(".py") not in shipped:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"custom", "__future__"}
    needed = {distributions[module][0].lower() for module in third_party}
    listed = {name.lower() for name in metadata["required_packages_version"]} | MONAI_BASE_PACKAGES
    assert needed - listed == set(), f"imported by custom/ but not in required_packages_version: {needed - listed}"


@pytest.mark.parametrize("package", sorted(EXPECTED_REQUIRED_PACKAGES))
def test_required_package_installed_with_same_major_version(metadata, package):
    declared = metadata["required_packages_version"][package]
    try:
        installed = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{package} is listed in required_packages_version but is not installed")
    assert _major(installed) == _major(declared), f"{package}: installed {installed}, metadata says {declared}"
    names = _import_names(package)
    assert names, f"{package} is installed but provides no importable top-level module"
    assert any(importlib.util.find_spec(name) is not None for name in names), f"{package}: cannot import {names}"


@pytest.mark.parametrize(
    ("key", "distribution"),
    [("monai_version", "monai"), ("pytorch_version", "torch"), ("numpy_version", "numpy")],
)
def test_base_versions_match_installed_major(metadata, key, distribution):
    installed = importlib.metadata.version(distribution)
    assert _major(metadata[key]) == _major(installed), f"{key}={metadata[key]}, installed {installed}"


# --- content -------------------------------------------------------------------------------------------


def test_network_data_format(metadata):
    fmt = metadata["network_data_format"]
    image = fmt["inputs"]["image"]
    assert image["type"] == "image"
    assert image["format"] == "magnitude"
    assert image["modality"] == "MG"
    assert image["num_channels"] == 1
    assert image["spatial_shape"] == [96, 96]
    assert image["dtype"] == "float32"
    assert image["value_range"] == [0, 1]
    assert image["is_patch_data"] is True
    assert image["channel_def"] == {"0": "image"}
    pred = fmt["outputs"]["pred"]
    # verify_net_in_out compares output.shape[1] with num_channels: the encoder returns (B, 512).
    assert pred["num_channels"] == 512
    assert pred["dtype"] == "float32"


def test_eval_metrics_are_numbers_when_present(metadata):
    """No placeholder strings: eval_metrics holds measured numbers or is absent."""
    for name, value in metadata.get("eval_metrics", {}).items():
        assert isinstance(value, numbers.Real) and not isinstance(value, bool), f"eval_metrics[{name!r}]={value!r}"


def test_descriptive_fields(metadata):
    assert re.fullmatch(r"\d+\.\d+\.\d+", metadata["version"])
    assert next(iter(metadata["changelog"])) == metadata["version"]  # newest entry first, as MONAI bundles do
    assert metadata["data_type"] == "dicom"
    assert "not for clinical use" in metadata["intended_use"].lower()
    assert any("2401.05570" in ref for ref in metadata["references"])
    for source in ("VinDr-Mammo", "CBIS-DDSM", "INbreast", "synthetic"):
        assert source in metadata["data_source"], source


# --- logging.conf --------------------------------------------------------------------------------------


def test_logging_conf_loads():
    parser = configparser.RawConfigParser()
    assert parser.read(LOGGING_CONF, encoding="utf-8")
    assert parser.get("logger_root", "level") == "INFO"
    assert "asctime" in parser.get(f"formatter_{parser.get('formatters', 'keys')}", "format")

    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    try:
        logging.config.fileConfig(LOGGING_CONF, disable_existing_loggers=False)
        assert root.level == logging.INFO
        assert any(isinstance(h, logging.StreamHandler) for h in root.handlers)
    finally:
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in saved_handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved_level)
