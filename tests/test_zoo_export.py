"""``python -m custom export-bundle``: a zoo-ready bundle that runs on its own vendored code, and the model
zoo's gates (written from its published rules) run on it with this repository's package blocked, for every
bundle of the repository."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import torch
from archive_fixtures import run_cli

from monai.bundle import ConfigParser

from custom.layers import MODALITIES, TOOLS
from custom.zoo import check_version_rules, export_bundle
from custom.zoo.export import ZOO_BLACK_TARGETS, ZOO_FLAKE8, ZOO_ISORT, ZOO_LINE_LENGTH

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundles" / "mammo_siamese_softlabel"
# per bundle: the modality whose packages it ships, and the number of tensors in its network's state_dict
BUNDLES = {"mammo_siamese_softlabel": ("mammography", 123), "breast_us_multiorgan_seg": ("ultrasound", 172)}
ZOO_FILES = ("LICENSE", "configs/metadata.json", "configs/inference.json", "configs/train.json",
             "configs/evaluate.json", "docs/README.md", "docs/data_license.txt", "large_files.yml",
             "models/model.pt", "scripts/__init__.py", "scripts/custom/__init__.py")


def test_every_bundle_is_exported_here():
    assert sorted(BUNDLES) == sorted(path.name for path in (REPO / "bundles").iterdir() if path.is_dir())


@pytest.fixture(scope="module", params=sorted(BUNDLES))
def exported(request, tmp_path_factory):
    """The bundle, given weights of its inference network (seeded), exported through the CLI; and its zip
    unpacked elsewhere. A detector calibration as new as the weights lies next to them."""
    bundle = REPO / "bundles" / request.param
    root = tmp_path_factory.mktemp("export")
    source = root / "src" / bundle.name
    shutil.copytree(bundle, source, ignore=shutil.ignore_patterns("models", "eval", "logs", "data", "runs"))
    (source / "models").mkdir()
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    torch.manual_seed(4321)
    torch.save(parser.get_parsed_content("network_def").state_dict(), source / "models" / "model.pt")
    (source / "models" / "detector.json").write_text('{"format": "mammo-asymmetry-detector"}')
    from custom.cli import main

    main(["export-bundle", "--bundle", str(source), "--out", str(root / "dist")])
    unpacked = root / "unpacked"
    with zipfile.ZipFile(root / "dist" / f"{bundle.name}_v{_version(bundle)}.zip") as archive:
        archive.extractall(unpacked)
    return source, root / "dist" / bundle.name, unpacked / bundle.name


def _version(bundle: Path = BUNDLE) -> str:
    return json.loads((bundle / "configs" / "metadata.json").read_text())["version"]


def test_export_holds_the_zoo_files_and_only_vendored_code(exported):
    source, folder, unpacked = exported
    modality, _ = BUNDLES[source.name]
    for relative in ZOO_FILES:
        assert (folder / relative).is_file(), relative
        assert (unpacked / relative).read_bytes() == (folder / relative).read_bytes(), relative
    digest = hashlib.sha256((folder / "models" / "model.pt").read_bytes()).hexdigest()
    assert digest == hashlib.sha256((source / "models" / "model.pt").read_bytes()).hexdigest()
    large_files = (folder / "large_files.yml").read_text()
    assert 'path: "models/model.pt"' in large_files and f'hash_val: "{digest}"' in large_files
    assert re.search(r'url: "https://\S+/model\.pt"', large_files)
    # no reference to the installed package is left: every config and module points at scripts.custom
    for path in [*folder.glob("configs/*.json"), *folder.rglob("scripts/**/*.py")]:
        text = path.read_text()
        assert not re.search(r"(?<![\w.])custom\.[a-z_]", text), f"{path} still refers to the installed package"
        assert not re.search(r"^\s*(from|import) custom\b", text, re.MULTILINE), path
    assert "scripts.custom." in (folder / "configs" / "train.json").read_text()
    # the core and the bundle's own modality are shipped; the other modality, the CLI and the exporter are not
    shipped = {path.name.removesuffix(".py") for path in (folder / "scripts" / "custom").iterdir()}
    assert {"networks", "ssl", "training", "evaluation", "layers"} <= shipped
    assert {package.split(".")[1] for package in MODALITIES[modality]} <= shipped
    others = [package for name, packages in MODALITIES.items() if name != modality for package in packages]
    assert not shipped & {package.split(".")[1] for package in (*others, *TOOLS)}
    # the source bundle keeps importing the installed package
    assert "scripts.custom" not in (source / "configs" / "train.json").read_text()
    # the zoo's way to evaluate (train.json + evaluate.json, default run id) evaluates
    assert json.loads((folder / "configs" / "evaluate.json").read_text())["run"] == "@evaluating"
    schema = json.loads((REPO / "tests" / "data" / "meta_schema_20240725.json").read_text())
    metadata = json.loads((folder / "configs" / "metadata.json").read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(metadata)
    assert "tqdm" in metadata["required_packages_version"]


def test_the_detector_calibration_goes_along_where_read_unless_older_than_the_weights(exported, tmp_path):
    source, folder, unpacked = exported
    if BUNDLES[source.name][0] != "mammography":  # no config of the bundle reads one: none is shipped
        assert not (folder / "models" / "detector.json").exists()
        assert export_bundle(source, tmp_path / "dist").needs_calibration is False
        return
    for copy_of in (folder, unpacked):  # inference.json needs it; a few kB, so not a large file
        assert (copy_of / "models" / "detector.json").read_bytes() == (source / "models" / "detector.json").read_bytes()
    assert "detector.json" not in (folder / "large_files.yml").read_text()
    stale = tmp_path / source.name
    shutil.copytree(source, stale)
    os.utime(stale / "models" / "detector.json", (0, 0))  # fitted for earlier weights
    result = export_bundle(stale, tmp_path / "dist")
    assert result.calibration is None and not (result.folder / "models" / "detector.json").exists()


def test_exported_bundle_passes_the_zoo_gates_without_this_repository(exported):
    _, _, unpacked = exported
    result = subprocess.run([sys.executable, str(REPO / "tests" / "zoo_gates.py")], cwd=unpacked,
                            capture_output=True, text=True, timeout=600,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert result.returncode == 0, result.stderr[-3000:]
    gates = json.loads(result.stdout.strip().splitlines()[-1])
    tensors = BUNDLES[unpacked.name][1]
    assert gates["weights"] == tensors
    assert gates["loaded_tensors"] == {"train": tensors, "inference": tensors}  # every weight, both workflow types
    assert gates["missing_properties"] == {"train": [], "inference": []}
    assert gates["verify_net_in_out"] is True
    for batch, difference in gates["max_abs_difference"].items():
        assert difference["torchscript"] <= 1e-4, batch
        assert difference["onnx"] is not None and difference["onnx"] <= 1e-4, batch


_DOWNLOAD_AND_LOAD = """
import json, sys
sys.modules["custom"] = None  # this repository's package (installed in editable mode) cannot be imported
import torch
from monai.bundle import download, load

name, url, bundles = sys.argv[1:4]
download(name=name, url=url, bundle_dir=bundles, progress=False)
network = load(name, bundle_dir=bundles, workflow_type="inference", device="cpu", progress=False)
weights = torch.load(f"{bundles}/{name}/models/model.pt", map_location="cpu", weights_only=True)
state = network.state_dict()
print(json.dumps({"class": type(network).__module__, "code": sys.modules["scripts"].__file__,
                  "loaded": sum(key in state and torch.equal(state[key], value) for key, value in weights.items()),
                  "weights": len(weights)}))
"""


def test_the_zip_loads_with_monai_download_and_load_in_any_folder_without_this_repository(exported, tmp_path):
    """The zoo's documented way: ``monai.bundle.download`` of the zip (here from a file URL), then
    ``load(..., workflow_type="inference")``, in a Python started in an unrelated folder that cannot see this
    repository (neither on its path nor through the installed package)."""
    _, folder, _ = exported
    archive = next(folder.parent.glob(f"{folder.name}_v*.zip"))
    elsewhere, bundles = tmp_path / "elsewhere", tmp_path / "downloaded"
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-c", _DOWNLOAD_AND_LOAD, folder.name, archive.as_uri(), str(bundles)],
                            cwd=elsewhere, capture_output=True, text=True, timeout=600,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["loaded"] == loaded["weights"] == BUNDLES[folder.name][1]  # every weight of the network
    assert loaded["class"].startswith("scripts.custom.")
    assert Path(loaded["code"]).resolve().is_relative_to((bundles / folder.name).resolve())  # the bundle's own code


def test_the_zoos_commands_still_run_from_the_bundle_folder(exported, synthetic_vindr, tmp_path):
    """``python -m monai.bundle`` from the unpacked bundle's folder, as the zoo's README and CI run it: the net
    check on every bundle, ``load`` from the parent folder as the README shows, and for the mammography bundle
    the training command itself (one tiny epoch on the tests' synthetic data)."""
    _, _, unpacked = exported
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    block = "import sys; sys.modules['custom'] = None; "  # the exported bundle runs on its own code
    commands = [
        [sys.executable, "-c", block + "import runpy; runpy.run_module('monai.bundle', run_name='__main__')", "verify_net_in_out",
         "--net_id", "network_def", "--meta_file", "configs/metadata.json", "--config_file", "configs/inference.json"],
        [sys.executable, "-c", block + f"import monai.bundle; monai.bundle.load({unpacked.name!r}, bundle_dir='..', "
                                       "workflow_type='inference', progress=False)"],
    ]
    if BUNDLES[unpacked.name][0] == "mammography":
        commands.append([sys.executable, "-c", block + "import runpy; runpy.run_module('monai.bundle', run_name='__main__')", "run",
                         "training", "--config_file", "configs/train.json", "--bundle_root", str(tmp_path),
                         "--dataset_dir", str(synthetic_vindr), "--max_epochs", "1", "--pairs_per_exam", "2",
                         "--batch_size", "8", "--calibrate_detector", "False", "--monitor_embedding", "False"])
    for command in commands:
        result = subprocess.run(command, cwd=unpacked, capture_output=True, text=True, timeout=900, env=env)
        assert result.returncode == 0, f"{command[3:6]}: {result.stderr[-3000:]}"
    if BUNDLES[unpacked.name][0] == "mammography":
        assert (tmp_path / "models" / "model.pt").stat().st_size > 0


def test_shipped_code_passes_the_zoos_code_checks(exported):
    # black, isort and flake8 (with bugbear, comprehensions and naming) under the zoo's settings
    _, folder, _ = exported
    targets = [arg for version in ZOO_BLACK_TARGETS for arg in ("--target-version", version.lower())]
    isort_options = ["--profile", ZOO_ISORT["profile"], "--line-length", str(ZOO_ISORT["line_length"]),
                     *[arg for name in ZOO_ISORT["known_first_party"] for arg in ("--project", name)],
                     *[arg for name in ZOO_ISORT["known_third_party"] for arg in ("--thirdparty", name)]]
    for command in (["black", "--check", "--line-length", str(ZOO_LINE_LENGTH), *targets, "scripts"],
                    ["isort", "--check-only", *isort_options, "scripts"],
                    ["flake8", *ZOO_FLAKE8, "scripts"]):
        checked = subprocess.run([sys.executable, "-m", *command], cwd=folder, capture_output=True, text=True,
                                 timeout=600)
        assert checked.returncode == 0, f"{command[0]}: {checked.stdout[-3000:]}{checked.stderr[-3000:]}"


def test_export_errors_name_the_file_and_keep_other_folders(exported, tmp_path, capsys):
    source, _, _ = exported
    code, _, err = run_cli(capsys, "export-bundle", "--bundle", str(source), "--out", str(tmp_path / "out"),
                           "--weights", str(tmp_path / "missing.pt"))
    assert code == 2 and "missing.pt: no trained weights" in err
    not_weights = tmp_path / "notes.pt"
    not_weights.write_text("hello")
    code, _, err = run_cli(capsys, "export-bundle", "--bundle", str(source), "--out", str(tmp_path / "out"),
                           "--weights", str(not_weights))
    assert code == 2 and "notes.pt: not a PyTorch state_dict file" in err
    foreign = tmp_path / "taken" / source.name
    foreign.mkdir(parents=True)
    (foreign / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="was not written by an export"):
        export_bundle(source, tmp_path / "taken")
    assert (foreign / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_config_ids_follow_the_zoos_naming_rules(name):
    # the zoo's CONTRIBUTING: ids an inference config and a train config (with its validate part) must define
    configs = REPO / "bundles" / name / "configs"
    inference = ConfigParser()
    inference.read_config(str(configs / "inference.json"))
    for key in ("bundle_root", "device", "network_def", "inferer", "output_dir"):
        assert key in inference, f"inference.json: {key}"
    train = ConfigParser()
    train.read_config([str(configs / "train.json"), str(configs / "evaluate.json")])
    for key in ("bundle_root", "device", "dataset_dir", "output_dir", "train#trainer", "train#trainer#max_epochs",
                "train#dataset", "train#dataset#data", "train#handlers", "validate#evaluator", "validate#handlers",
                "validate#dataset", "validate#dataset#data"):
        assert key in train, f"train.json + evaluate.json: {key}"


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_version_rules_of_the_zoo(name):
    metadata = json.loads((REPO / "bundles" / name / "configs" / "metadata.json").read_text())
    check_version_rules(metadata)
    for change, message in (({"version": "0.3"}, "not MAJOR.MINOR.PATCH"),
                            ({"version": "9.9.9"}, "has no changelog entry")):
        with pytest.raises(ValueError, match=message):
            check_version_rules({**copy.deepcopy(metadata), **change})
    reordered = copy.deepcopy(metadata)
    reordered["changelog"] = dict(reversed(list(metadata["changelog"].items())))
    with pytest.raises(ValueError, match="newest first"):
        check_version_rules(reordered)
    behind = copy.deepcopy(metadata)
    behind["changelog"] = {"9.0.0": "later", **metadata["changelog"]}
    with pytest.raises(ValueError, match="older than the changelog's newest entry"):
        check_version_rules(behind)
