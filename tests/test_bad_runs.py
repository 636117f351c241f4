"""The run-level half of the bad-input corpus (``tests/corpus.py`` holds the bad files): what a user gets wrong
about a whole run, through both bundles and the command line. A mistyped or empty data folder, a second data
set in one bundle folder, a setting of the wrong type, a full disk, two trainings at once, an export over the
user's own files, a heatmap of nothing. Each ends with one line naming the key or the file, goes on where it
should, writes nothing into the user's folders and leaves every input byte as it was."""

from __future__ import annotations

import errno
import json
import logging
import shutil
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import torch
from monai.bundle import ConfigWorkflow

import custom.atomic_write as atomic
from custom.clear_errors import ClearError, ConfigError, DataSetError, clear_error_in
from custom.dataset_identity import identify_data_set
from custom.mammography.data import MammoDataSource
from custom.mammography.data.parallel import default_workers
from custom.run_folder import FolderInUse, claim_run_folder, recorded_data_set
from custom.training.checkpoint import checkpoint_to_resume
from custom.ultrasound.data_source import UltrasoundDataSource
from custom.ultrasound.synthetic import synth_us
from tests.archive_fixtures import run_cli, tiny_bundle
from tests.corpus import exam_of, image_path, write_archive
from tests.layout_fixtures import tree_digest

REPO = Path(__file__).resolve().parents[1]
MAMMO = REPO / "bundles" / "mammo_siamese_softlabel"
US = REPO / "bundles" / "breast_us_multiorgan_seg"
WORKERS = [0, default_workers()]
TINY_MAMMO = {"pairs_per_exam": 2, "candidate_pairs_per_exam": 2, "batch_size": 8, "warmup_epochs": 1, "calibrate_detector": False,
              "monitor_embedding": False, "max_epochs": 1}
TINY_US = {"image_size": 32, "val_fraction": 0.25, "test_fraction": 0.25, "batch_size": 4, "max_epochs": 1}


def _workflow(bundle: Path, configs: list[str], bundle_root: Path, **overrides) -> ConfigWorkflow:
    files = [str(bundle / "configs" / name) for name in configs]
    return ConfigWorkflow(config_file=files if len(files) > 1 else files[0], workflow_type="train",
                          run_id="training", bundle_root=str(bundle_root), **overrides)


def _train(bundle: Path, configs: list[str], bundle_root: Path, **overrides) -> None:
    workflow = _workflow(bundle, configs, bundle_root, **overrides)
    workflow.initialize()
    workflow.run()
    workflow.finalize()


def _stopped_by(bundle: Path, configs: list[str], bundle_root: Path, **overrides) -> ClearError:
    """The clear error a run of the configs stops with (in ``initialize`` or at the start of ``run``)."""
    with pytest.raises(Exception) as raised:  # noqa: PT011 - MONAI wraps ours in its RuntimeError
        _train(bundle, configs, bundle_root, **overrides)
    clear = clear_error_in(raised.value)
    assert clear is not None, raised.value
    return clear


@contextmanager
def _notices(caplog, name: str):
    """caplog sees the records of logger ``name``: its handler goes on that logger, since a bundle run's
    logging.conf replaces the root logger's handlers."""
    logger = logging.getLogger(name)
    if caplog.handler in logging.getLogger().handlers:  # no bundle run has replaced it yet
        yield
        return
    logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        logger.removeHandler(caplog.handler)


@pytest.fixture(scope="module")
def us_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("us") / "synthetic_us"
    synth_us(root, seed=0, preset="test")
    return root


# ---- a user-named data folder is only read ----


@pytest.mark.parametrize("kind", ["missing", "empty", "another layout"])
def test_a_mistyped_or_empty_dataset_dir_is_refused_before_any_work(kind, tmp_path, us_data):
    data = {"missing": tmp_path / "typo", "empty": tmp_path / "empty", "another layout": us_data}[kind]
    if kind == "empty":
        data.mkdir()
    before = tree_digest(data) if data.exists() else None
    for bundle in (MAMMO, US):
        root = tmp_path / f"bundle_{bundle.name}"
        if kind == "another layout" and bundle == US:  # a mammography archive given as BUSI
            data = write_archive(tmp_path / "mammo")
            before = tree_digest(data)
        error = _stopped_by(bundle, ["train.json"], root, dataset_dir=str(data),
                            **(TINY_MAMMO if bundle == MAMMO else TINY_US))
        message = str(error)
        assert "\n" not in message and str(data) in message, message
        expected = {"missing": "no such folder", "empty": "the folder is empty",
                    "another layout": "annotation file not found" if bundle == MAMMO else "not a BUSI layout"}[kind]
        assert expected in message, message
        assert (tree_digest(data) if data.exists() else None) == before  # nothing created or written
        assert not (root / "models").exists() and not (root / "data").exists()


def test_synthetic_data_is_written_only_where_the_bundle_asked_for_it(tmp_path):
    own = tmp_path / "bundle" / "data" / "synthetic"
    asked = MammoDataSource(str(own), synthetic_dir=str(own), synthetic_studies=2, synthetic_preset="test")
    assert len(asked.manifest) == 8 and (own / "breast-level_annotations.csv").is_file()
    empty = tmp_path / "mine"
    empty.mkdir()
    with pytest.raises(DataSetError, match="the folder is empty"):
        MammoDataSource(str(empty), synthetic_dir=str(own), synthetic_studies=2).manifest  # noqa: B018
    assert not any(empty.iterdir())
    us_own, us_empty = tmp_path / "bundle" / "data" / "synthetic_us", tmp_path / "us_mine"
    assert len(UltrasoundDataSource(str(us_own), synthetic_dir=str(us_own), synthetic_preset="test").manifest) == 13
    with pytest.raises(DataSetError, match="no such folder"):
        UltrasoundDataSource(str(us_empty), synthetic_dir=str(us_own), synthetic_preset="test").manifest  # noqa: B018
    assert not us_empty.exists()


# ---- a run knows which data set it belongs to ----


def _smaller_copy(source: Path, target: Path) -> Path:
    """The data set less its last study: another data set (fewer pairs) in the same layout."""
    shutil.copytree(source, target)
    for name in ("breast-level_annotations.csv", "finding_annotations.csv"):
        table = pd.read_csv(target / name, dtype=str, keep_default_na=False)
        last = sorted(table["study_id"].unique())[-1]
        table[table["study_id"] != last].to_csv(target / name, index=False)
    return target


def test_a_second_data_set_in_one_bundle_folder_starts_fresh_and_keeps_the_first_runs_files(
        tmp_path, synthetic_vindr, caplog):
    """The crash of the sweep ("operands could not be broadcast (1344,) (1336,)": the first data set's label
    bank resumed on the second) becomes a fresh start, said in one line; the first run's files are moved aside."""
    second = _smaller_copy(synthetic_vindr, tmp_path / "second")
    before = tree_digest(second)
    bundle_root, settings = tmp_path / "bundle", {**TINY_MAMMO, "cache_dir": str(tmp_path / "cache")}
    _train(MAMMO, ["train.json"], bundle_root, dataset_dir=str(synthetic_vindr), **settings)
    models = bundle_root / "models"
    first_weights = (models / "model.pt").read_bytes()
    first = recorded_data_set(models)
    with _notices(caplog, "custom.run_folder"):
        _train(MAMMO, ["train.json"], bundle_root, dataset_dir=str(second), **settings)
    (moved,) = (models / "previous_runs").iterdir()
    assert moved.name == first.short_name()
    assert (moved / "model.pt").read_bytes() == first_weights and checkpoint_to_resume(moved) is not None
    (line,) = [record.getMessage() for record in caplog.records if "starts fresh" in record.getMessage()]
    assert str(synthetic_vindr.resolve()) in line and str(second.resolve()) in line and str(moved) in line
    assert recorded_data_set(models).folder == str(second.resolve())
    trainer = torch.load(checkpoint_to_resume(models), weights_only=True)["trainer"]
    assert trainer["iteration"] == trainer["epoch_length"]  # trained afresh: one epoch, not two
    assert tree_digest(second) == before


def test_the_same_data_set_resumes_and_a_run_folder_is_claimed_once(tmp_path):
    files = []
    for name in ("a.png", "b.png"):
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / name).write_bytes(b"x" * len(name))
        files.append((str(tmp_path / "data" / name), "train"))
    data = identify_data_set(tmp_path / "data", "csv", files)
    folder = tmp_path / "models"
    assert claim_run_folder(folder, data) is None
    (folder / "checkpoint.pt").write_bytes(b"state")
    assert claim_run_folder(folder, data) is None and (folder / "checkpoint.pt").exists()  # resumes
    (folder / "dataset.json").unlink()  # a run from before the record: taken to be on this data set
    assert claim_run_folder(folder, data) is None and (folder / "checkpoint.pt").exists()
    other = identify_data_set(tmp_path / "data", "csv", files[:1])
    assert claim_run_folder(folder, other).name == data.short_name()
    (folder / "checkpoint.pt").write_bytes(b"state of the second")
    assert claim_run_folder(folder, data).name == f"{other.short_name()}"
    (folder / "checkpoint.pt").write_bytes(b"again")
    assert claim_run_folder(folder, other).name == f"{data.short_name()}_2"  # never over an earlier move


_HOLD_THE_FOLDER = """
import sys, time
from custom.dataset_identity import DataSetIdentity
from custom.run_folder import claim_run_folder
claim_run_folder(sys.argv[1], DataSetIdentity("/data", "vindr", 1, "0" * 64))
print("holding", flush=True)
time.sleep(120)
"""


def test_a_second_training_into_the_same_folder_is_stopped_by_the_lock(tmp_path):
    folder = tmp_path / "models"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_THE_FOLDER, str(folder)], stdout=subprocess.PIPE, text=True,
                              cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(FolderInUse) as error:
            claim_run_folder(folder, identify_data_set(tmp_path, "vindr", []))
        assert str(error.value) == (f"{folder}: another training run is writing into this folder (it holds "
                                    f"{folder / '.training.lock'}); wait for it to end, or train into another "
                                    "folder with --bundle_root DIR")
    finally:
        holder.kill()
        holder.wait()
    claim_run_folder(folder, identify_data_set(tmp_path, "vindr", []))  # the lock went with the process


def test_a_cached_ultrasound_manifest_of_another_folder_or_other_settings_is_rebuilt(tmp_path, us_data, caplog):
    """The sweep: the bundle read any existing data/<format>_manifest.csv whatever --dataset_dir said, and a
    failed first run's manifest (an empty validation split) kept later runs failing."""
    manifest = tmp_path / "data" / "busi_manifest.csv"
    other = tmp_path / "other_busi"
    shutil.copytree(us_data / "Dataset_BUSI_with_GT", other / "Dataset_BUSI_with_GT")
    for mask in (other / "Dataset_BUSI_with_GT" / "normal").glob("*"):
        mask.unlink()
    before = tree_digest(other)
    first = UltrasoundDataSource(str(us_data), manifest_file=str(manifest), val_fraction=0.0)
    with pytest.raises(DataSetError, match=r"no busi images in the 'val' split .* a larger val_fraction fills it"):
        first.rows("val")
    with _notices(caplog, "custom.ultrasound.data_source"):
        again = UltrasoundDataSource(str(us_data), manifest_file=str(manifest))
        assert again.rows("val")  # rebuilt with the default val_fraction, not the failed run's
        moved = UltrasoundDataSource(str(other), manifest_file=str(manifest))
        assert set(moved.manifest["class_name"]) == {"benign", "malignant"}
        assert all(path.startswith(str(other.resolve())) for path in moved.manifest["path"])
    rebuilt = [record.getMessage() for record in caplog.records if "rebuilding it" in record.getMessage()]
    assert len(rebuilt) == 2 and "val_fraction" in rebuilt[0] and "dataset_dir" in rebuilt[1]
    reused = UltrasoundDataSource(str(other), manifest_file=str(manifest))
    pd.testing.assert_frame_equal(reused.manifest, moved.manifest)
    assert tree_digest(other) == before


def test_the_ultrasound_bundle_starts_fresh_on_a_second_data_set_and_counts_skipped_files(tmp_path, us_data, capsys):
    second = tmp_path / "second"
    shutil.copytree(us_data, second)
    blank = second / "Dataset_BUSI_with_GT" / "benign" / "benign (1).png"
    from PIL import Image

    Image.new("L", Image.open(blank).size, 0).save(blank)  # a constant image: named, skipped, counted
    before = tree_digest(second)
    bundle_root = tmp_path / "bundle"
    _train(US, ["train.json"], bundle_root, dataset_dir=str(us_data), **TINY_US)
    assert "no input skipped" in capsys.readouterr().out
    _train(US, ["train.json"], bundle_root, dataset_dir=str(second), **TINY_US)
    printed = capsys.readouterr().out
    assert f"1 input(s) skipped:\n  1 x constant image\n  - {blank}: constant image: every pixel is 0" in printed
    (moved,) = (bundle_root / "models" / "previous_runs").iterdir()
    assert (moved / "model.pt").is_file() and (bundle_root / "models" / "model.pt").is_file()
    assert recorded_data_set(bundle_root / "models").folder == str(second.resolve())
    assert tree_digest(second) == before


def test_an_interrupted_ultrasound_pretraining_resumes_exactly_in_its_claimed_folder(tmp_path, us_data):
    """The claim of the checkpoint folder keeps resuming exact: the same data set resumes its own checkpoint."""
    settings = {"dataset_dir": str(us_data), "batch_size": 8, "image_size": 32, "synthetic_preset": "test"}
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    _train(US, ["pretrain.json"], straight, max_epochs=2, **settings)
    _train(US, ["pretrain.json"], interrupted, max_epochs=1, **settings)
    _train(US, ["pretrain.json"], interrupted, max_epochs=2, **settings)
    folder = Path("models") / "pretrained" / "simclr_pocus_camus"
    expected = torch.load(checkpoint_to_resume(straight / folder), weights_only=True)
    resumed = torch.load(checkpoint_to_resume(interrupted / folder), weights_only=True)
    assert resumed["trainer"] == expected["trainer"] and not (interrupted / folder / "previous_runs").exists()
    for key, value in expected["network"].items():
        torch.testing.assert_close(resumed["network"][key], value, msg=f"{key} differs after resume")


# ---- config errors come first and briefly ----


@pytest.mark.parametrize(("bundle", "overrides", "expected"), [
    (MAMMO, {"max_epochs": "abc"}, "max_epochs='abc': expects a whole number >= 1"),
    (MAMMO, {"train#trainer#max_epochs": "abc"}, "train#trainer#max_epochs='abc': expects a whole number >= 1"),
    (MAMMO, {"max_epochs": -3}, "max_epochs=-3: expects a whole number >= 1"),
    (MAMMO, {"dataset_format": "dicom"}, "dataset_format='dicom': expects one of 'cbis', 'csv', 'inbreast', 'vindr'"),
    (MAMMO, {"learning_rate": 0}, "learning_rate=0: expects a number > 0"),
    (MAMMO, {"patch_preset": 128}, "patch_preset=128: expects one of '256', '96'"),
    (MAMMO, {"assumed_pixel_spacing": -0.05}, "assumed_pixel_spacing=-0.05: expects null or a number > 0"),
    (US, {"max_epochs": "abc"}, "max_epochs='abc': expects a whole number >= 1"),
    (US, {"val_fraction": 1.5}, "val_fraction=1.5: expects a number in [0, 1)"),
    (US, {"image_size": 48}, "image_size=48: expects a multiple of 32, such as 64, 128 or 256"),
    (US, {"dataset_format": "png"}, "dataset_format='png': expects one of 'busi', 'camus', 'imagefolder', 'pocus', "
                                    "'udiat'"),
    (US, {"label_fraction": 0}, "label_fraction=0: expects a number in (0, 1]"),
])
def test_a_wrong_setting_stops_the_run_in_one_line_before_any_work(bundle, overrides, expected, tmp_path):
    workflow = _workflow(bundle, ["train.json"], tmp_path, dataset_dir=str(tmp_path / "data"), **overrides)
    with pytest.raises(RuntimeError) as raised:
        workflow.initialize()
    error = clear_error_in(raised.value)
    assert isinstance(error, ConfigError) and str(error) == expected
    assert list(tmp_path.iterdir()) == []


def test_the_pretraining_sources_are_checked(tmp_path):
    workflow = _workflow(US, ["pretrain.json"], tmp_path, pretrain_sources=["pocus", "lung"])
    with pytest.raises(RuntimeError) as raised:
        workflow.initialize()
    assert str(clear_error_in(raised.value)) == ("pretrain_sources=['pocus', 'lung']: expects a list of layouts among "
                                                 "busi, camus, imagefolder, pocus, udiat")


def _bundle_cli(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", "configs/train.json", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=bundle)


@pytest.mark.parametrize(("bundle", "args", "expected"), [
    (MAMMO, ["--train#trainer#max_epochs", "abc"], "error: train#trainer#max_epochs='abc': expects a whole number >= 1"),
    (US, ["--dataset_format", "png"], "error: dataset_format='png': expects one of 'busi', 'camus', 'imagefolder', "
                                      "'pocus', 'udiat'"),
    (MAMMO, ["--dataset_dir", "{tmp}/typo"], "error: dataset_dir {tmp}/typo: no such folder; give the folder that holds "
                                            "the vindr data set, or leave dataset_dir unset for the built-in synthetic "
                                            "data"),
])
def test_python_m_monai_bundle_prints_one_line_and_no_traceback(bundle, args, expected, tmp_path):
    args = [arg.format(tmp=tmp_path) for arg in args]
    done = _bundle_cli(bundle, *args, "--bundle_root", str(tmp_path / "bundle"))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [expected.format(tmp=tmp_path)]
    assert not (tmp_path / "bundle").exists() and not (tmp_path / "typo").exists()


# ---- every write the user relies on is atomic ----


def _filling_disk(monkeypatch, suffix: str) -> None:
    """Every write of a file ending ``suffix`` (through the atomic writer's temporaries) meets a full disk."""
    real_to_csv = pd.DataFrame.to_csv

    def to_csv(self, path=None, *args, **kwargs):
        if path is not None and str(path).endswith(suffix):
            with open(path, "w") as handle:
                handle.write("study_id,pa")  # the first bytes made it
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_to_csv(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)


@pytest.mark.parametrize("layout", ["vindr", "busi"])
def test_a_full_disk_keeps_the_old_manifest_and_names_it(layout, tmp_path, us_data, monkeypatch, capsys):
    root = write_archive(tmp_path / "archive") if layout == "vindr" else us_data
    out = tmp_path / "manifest.csv"
    assert run_cli(capsys, "manifest", "--format", layout, "--root", str(root), "--out", str(out))[0] == 0
    old = out.read_bytes()
    _filling_disk(monkeypatch, ".tmp")
    code, _, err = run_cli(capsys, "manifest", "--format", layout, "--root", str(root), "--out", str(out))
    assert code == 2 and f"error: {out}: cannot write it (No space left on device)" in err
    assert out.read_bytes() == old and sorted(tmp_path.glob("manifest.csv*")) == [out]


def test_a_manifest_to_a_device_that_is_full_names_it(tmp_path, capsys):
    root = write_archive(tmp_path / "archive")
    code, _, err = run_cli(capsys, "manifest", "--root", str(root), "--out", "/dev/full")
    assert code == 2 and "error: /dev/full: cannot write it (No space left on device)" in err
    assert Path("/dev/full").is_char_device()  # written into, never replaced


@pytest.mark.parametrize("workers", WORKERS)
def test_a_full_cache_disk_stops_the_run_naming_the_cache_folder(workers, tmp_path, monkeypatch):
    root = write_archive(tmp_path / "archive")
    real_open = open

    def full(path, mode="r", *args, **kwargs):
        if "w" in mode and ".npy." in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(atomic, "open", full, raising=False)
    source = MammoDataSource(str(root), cache_dir=str(tmp_path / "cache"), num_workers=workers)
    with pytest.raises(DataSetError) as error:
        source.exams  # noqa: B018 - the property prepares the exams
    cache = tmp_path / "cache" / "exams_96_mask"
    assert str(error.value).startswith(f"{cache}: cannot write the exam cache there (4 exam(s) not written, first ")
    assert str(error.value).endswith("free space there or set cache_dir to a folder with room")


@pytest.mark.parametrize("workers", WORKERS)
def test_a_data_set_with_nothing_usable_stops_with_the_skip_summary(workers, tmp_path):
    root = write_archive(tmp_path / "archive")
    for study in ("s1", "s2"):
        for path in exam_of(root, study):
            Path(path).write_bytes(b"")
    before = tree_digest(root)
    source = MammoDataSource(str(root), cache_dir=str(tmp_path / "cache"), num_workers=workers)
    with pytest.raises(DataSetError) as error:
        source.exams  # noqa: B018
    message = str(error.value)
    assert message.startswith(f"dataset_dir {root}: no usable exam after skipping bad input (4 input(s) skipped:")
    assert f"- {image_path(root, 's1', 'L', 'CC')}: exam not usable: empty file (0 bytes)" in message
    assert tree_digest(root) == before


# ---- the command line never says success for nothing ----


def test_heatmap_fails_when_no_heatmap_was_written(tmp_path, capsys):
    root = write_archive(tmp_path / "archive")
    bundle = tiny_bundle(tmp_path / "bundle", [exam_of(root, "s1"), exam_of(root, "s2")])
    truncated = image_path(root, "s2", "R", "CC")
    truncated.write_bytes(truncated.read_bytes()[:2000])
    before = tree_digest(root)
    for images in ([exam_of(root, "s1")[0], exam_of(root, "s1")[2]],  # two left images
                   [str(image_path(root, "s2", "L", "CC")), str(truncated)]):  # one truncated
        code, out, err = run_cli(capsys, "heatmap", "--bundle", str(bundle), "--images", *images, "--out",
                                 str(tmp_path / "out"))
        assert code == 2 and "error: no heatmap written: no view of the exam has both breasts readable" in err
        assert not list((tmp_path / "out").rglob("*.nii.gz"))
    assert str(truncated) in out
    assert tree_digest(root) == before


@pytest.fixture(scope="module")
def trained_us_bundle(tmp_path_factory) -> Path:
    """A copy of the ultrasound bundle (configs, docs, licence) with weights of its network, to export."""
    from monai.bundle import ConfigParser

    source = tmp_path_factory.mktemp("src") / US.name
    shutil.copytree(US, source, ignore=shutil.ignore_patterns("models", "eval", "logs", "data", "runs"))
    (source / "models").mkdir()
    parser = ConfigParser()
    parser.read_config(str(US / "configs" / "inference.json"))
    torch.save(parser.get_parsed_content("network_def").state_dict(), source / "models" / "model.pt")
    return source


def test_export_bundle_names_the_zip_after_the_bundle_and_never_deletes_a_users_file(
        trained_us_bundle, tmp_path, monkeypatch, capsys):
    out = tmp_path / "dist"
    monkeypatch.chdir(trained_us_bundle)  # "--bundle ." from inside the bundle folder
    assert run_cli(capsys, "export-bundle", "--bundle", ".", "--out", str(out))[0] == 0
    version = json.loads((trained_us_bundle / "configs" / "metadata.json").read_text())["version"]
    assert sorted(path.name for path in out.iterdir()) == [US.name, f"{US.name}_v{version}.zip"]
    notes = out / US.name / "docs" / "my_notes.txt"
    notes.write_text("keep me")
    code, _, err = run_cli(capsys, "export-bundle", "--bundle", ".", "--out", str(out))
    assert code == 2 and "holds files the export did not write, or that changed since (docs/my_notes.txt)" in err
    assert notes.read_text() == "keep me"
    notes.unlink()
    readme = out / US.name / "docs" / "README.md"
    readme.write_text(readme.read_text() + "\nmy edit\n")
    code, _, err = run_cli(capsys, "export-bundle", "--bundle", ".", "--out", str(out))
    assert code == 2 and "(docs/README.md)" in err and readme.read_text().endswith("my edit\n")


# ---- ultrasound files no one could read ----


def _busi(root: Path) -> Path:
    return root / "Dataset_BUSI_with_GT"


def _camus_map(root: Path) -> Path:
    return root / "CAMUS" / "patient0001" / "patient0001_4CH_ED_gt.nii.gz"


def busi_first_mask_missing(root: Path):
    image = _busi(root) / "malignant" / "malignant (3).png"
    masks = sorted(image.parent.glob("malignant (3)_mask*.png"))
    assert [mask.name for mask in masks] == ["malignant (3)_mask.png", "malignant (3)_mask_1.png"]
    masks[0].unlink()
    return "busi", root, image, r"first mask missing: no malignant \(3\)_mask\.png beside it, only malignant " \
                                r"\(3\)_mask_1\.png"


def busi_constant_image(root: Path):
    from PIL import Image

    image = _busi(root) / "normal" / "normal (2).png"
    Image.new("RGB", Image.open(image).size, (0, 0, 0)).save(image)
    return "busi", root, image, "constant image: every pixel is 0"


def camus_label_outside_its_set(root: Path):
    import nibabel as nib
    import numpy as np

    path = _camus_map(root)
    volume = nib.load(path)
    labels = np.asarray(volume.dataobj).copy()
    labels[labels == 3] = 7
    nib.save(nib.Nifti1Image(labels, volume.affine, volume.header), path)
    return "camus", root / "CAMUS", path, r"label values \[7\] outside CAMUS's 0-3"


def pocus_truncated_gif(root: Path):
    video = root / "POCUS" / "video" / "covid" / "Cov-Synth-001.gif"
    video.write_bytes(video.read_bytes()[:20])
    return "pocus", root / "POCUS", video, r"undecodable video \(truncated: the GIF ends before its trailer byte\)"


US_CASES = {case.__name__: case for case in (busi_first_mask_missing, busi_constant_image, camus_label_outside_its_set,
                                             pocus_truncated_gif)}


@pytest.mark.parametrize("name", US_CASES)
def test_ultrasound_files_no_one_could_read_are_named_skipped_and_counted(name, us_data, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(us_data, root)
    fmt, layout_root, culprit, problem = US_CASES[name](root)
    before = tree_digest(root)
    options = ["--frame_cache", str(tmp_path / "frames")] if fmt == "pocus" else []
    out = tmp_path / "manifest.csv"
    code, printed, err = run_cli(capsys, "manifest", "--format", fmt, "--root", str(layout_root), "--out", str(out),
                                 "--check", *options)
    assert code == 0, err
    import re

    assert re.search(r"1 input\(s\) skipped:", printed) and re.search(rf"- {re.escape(str(culprit))}: .*{problem}", printed)
    if fmt != "pocus":  # the bundle's own data source: the same file named, skipped and counted
        source = UltrasoundDataSource(str(layout_root), fmt, manifest_file=str(tmp_path / "bundle_manifest.csv"))
        assert str(culprit) not in set(source.manifest["path"]) and len(source.report) == 1
        assert re.search(problem, source.report.items[0][1])
    assert tree_digest(root) == before


def test_the_ultrasound_test_preset_has_a_validation_split_with_the_default_fractions(us_data, tmp_path):
    source = UltrasoundDataSource(str(us_data), manifest_file=str(tmp_path / "m.csv"))
    assert {split: len(source.rows(split)) for split in ("train", "val", "test")} == {"train": 7, "val": 3, "test": 3}


def test_a_clear_error_prints_as_one_line_when_nothing_catches_it(tmp_path):
    script = textwrap.dedent("""
        from custom.clear_errors import DataSetError, print_clear_errors_briefly
        print_clear_errors_briefly()
        try:
            raise DataSetError("dataset_dir /x: no such folder")
        except DataSetError as error:
            raise RuntimeError("Failed to instantiate component 'custom.x'") from error
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert (done.returncode, done.stderr) == (1, "error: dataset_dir /x: no such folder\n")
    other = subprocess.run([sys.executable, "-c", script.replace("DataSetError(", "KeyError(")], capture_output=True,
                           text=True, cwd=REPO, timeout=60)
    assert "Traceback" in other.stderr  # an unexpected error keeps its traceback


@pytest.mark.parametrize("bundle", [MAMMO, US])
def test_each_bundles_readme_lists_its_checked_settings(bundle):
    from custom.mammography.settings import MAMMOGRAPHY_SETTINGS
    from custom.ultrasound.settings import ULTRASOUND_SETTINGS

    rules = MAMMOGRAPHY_SETTINGS if bundle == MAMMO else ULTRASOUND_SETTINGS
    readme = (bundle / "docs" / "README.md").read_text()
    missing = [key for key, setting in rules.items() if f"| `{key}` | {setting.describe()} |" not in readme]
    assert not missing, missing


def test_a_grey_mammogram_stored_as_rgb_is_read_as_grey_and_a_colour_one_refused(tmp_path):
    from PIL import Image

    from custom.mammography.data import MammogramReadError, read_mammogram
    from tests.archive_fixtures import breast_image

    grey = (breast_image("L", 0, (160, 128)) * 255).astype("uint8")
    Image.fromarray(grey).save(tmp_path / "P1_L_CC.png")
    Image.fromarray(grey).convert("RGB").save(tmp_path / "P2_L_CC.png")
    as_grey, _ = read_mammogram(tmp_path / "P1_L_CC.png", downsample=1)
    as_rgb, _ = read_mammogram(tmp_path / "P2_L_CC.png", downsample=1)
    assert (as_rgb == as_grey).all()  # lossless: no warning needed
    colour = Image.fromarray(grey).convert("RGB")
    colour.putpixel((5, 5), (255, 0, 0))
    colour.save(tmp_path / "P3_L_CC.png")
    with pytest.raises(MammogramReadError, match=r"P3_L_CC.png: a colour image \(1 of its 20480 pixels are not grey\)"):
        read_mammogram(tmp_path / "P3_L_CC.png", downsample=1)
