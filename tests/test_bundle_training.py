"""The bundle's training configs run through MONAI's ConfigWorkflow, resume exactly, and run under torchrun."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from monai.bundle import ConfigWorkflow
from monai.inferers import SimpleInferer
from PIL import Image

from custom.mammography.engines import CoTrainingIteration, SoftLabelBank
from custom.training import MixedPrecision
from custom.networks import SiameseEncoder
from tests.layout_fixtures import tree_digest

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "mammo_siamese_softlabel"
CONFIGS = BUNDLE / "configs"
TINY = {"pairs_per_exam": 4, "batch_size": 8, "warmup_epochs": 1, "calibrate_detector": False}


def _workflow(config_files, bundle_root: Path, dataset_dir: Path, **overrides) -> ConfigWorkflow:
    files = [str(CONFIGS / name) for name in config_files]
    return ConfigWorkflow(
        config_file=files if len(files) > 1 else files[0],
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"),
        workflow_type="train",
        run_id="training",
        bundle_root=str(bundle_root),
        dataset_dir=str(dataset_dir),
        **{**TINY, **overrides},
    )


def _train(bundle_root: Path, dataset_dir: Path, **overrides) -> None:
    workflow = _workflow(["train.json"], bundle_root, dataset_dir, **overrides)
    workflow.initialize()
    workflow.run()
    workflow.finalize()


def test_train_config_has_every_required_property(tmp_path, synthetic_vindr):
    workflow = _workflow(["train.json"], tmp_path, synthetic_vindr)
    workflow.initialize()
    assert workflow.check_properties() == []


def test_train_and_evaluate_configs_have_every_required_property(tmp_path, synthetic_vindr):
    workflow = _workflow(["train.json", "evaluate.json"], tmp_path, synthetic_vindr)
    workflow.initialize()
    assert workflow.check_properties() == []


def test_readme_training_then_heatmap_then_evaluation_on_an_archive_with_bad_files(tmp_path, synthetic_vindr):
    """The README's command with the default worker processes on a copy of the data holding three bad images,
    then ``python -m custom heatmap`` with nothing in between, then evaluation: the bad files are named and
    counted, everything else runs, and no input byte changes."""
    data = tmp_path / "data"
    shutil.copytree(synthetic_vindr, data)
    table = pd.read_csv(data / "breast-level_annotations.csv", dtype=str)
    studies = sorted(table["study_id"].unique())
    image = {(row.study_id, row.laterality, row.view_position): data / "images" / row.study_id / f"{row.image_id}.dicom"
             for row in table.itertuples()}
    empty, renamed = image[(studies[1], "R", "CC")], image[(studies[2], "L", "MLO")]
    empty.write_bytes(b"")
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(renamed, format="PNG")
    swapped = (table["study_id"] == studies[3]) & (table["view_position"] == "CC")  # L and R swapped in the CSV
    table.loc[swapped, "laterality"] = table.loc[swapped, "laterality"].map({"L": "R", "R": "L"})
    table.to_csv(data / "breast-level_annotations.csv", index=False)
    before = tree_digest(data)

    bundle = tmp_path / "bundle"
    common = ["--bundle_root", str(bundle), "--dataset_dir", str(data), "--pairs_per_exam", "4", "--batch_size", "8"]
    train = _bundle_cli("training", "['configs/train.json']", *common, "--max_epochs", "1", "--calibration_exams", "8")
    assert train.returncode == 0, train.stderr[-3000:]
    assert "3 input(s) skipped" in train.stdout
    for path, problem in ((empty, "empty file (0 bytes)"), (renamed, "not a DICOM file (it holds a PNG image)"),
                          (image[(studies[3], "R", "CC")], "contradictory laterality: L from given")):
        assert f"- {path}: exam not usable: {problem}" in train.stdout
    assert "detector calibration fitted on 8 exams and saved to" in train.stdout + train.stderr

    out = tmp_path / "heatmaps"
    exam = [str(image[(studies[0], side, view)]) for side in "LR" for view in ("CC", "MLO")]
    shown = subprocess.run([sys.executable, "-m", "custom", "heatmap", "--bundle", str(bundle), "--images", *exam,
                            "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert shown.returncode == 0, shown.stderr[-3000:]
    summary = json.loads((out / studies[0] / "detection.json").read_text())
    assert [view["status"] for view in summary["views"]] == ["ok", "ok"]

    # the model zoo's way to evaluate: the default run id of train.json combined with evaluate.json
    trained = (bundle / "models" / "model.pt").stat().st_mtime_ns
    evaluation = _bundle_cli("run", "['configs/train.json','configs/evaluate.json']", *common,
                             "--probe_splits", "['train','val','test']", "--probe_benchmark", "False")
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    assert (bundle / "models" / "model.pt").stat().st_mtime_ns == trained  # evaluated, not trained again
    assert "3 input(s) skipped" in evaluation.stdout
    rows = list(csv.DictReader(open(bundle / "eval" / "comparison.csv")))
    abnormal = {row["encoder"]: row for row in rows if row["task"] == "abnormal"}
    assert set(abnormal) == {"siamese_softlabel", "random_init"}
    for row in abnormal.values():
        assert 0.0 <= float(row["ci_low"]) <= float(row["value"]) <= float(row["ci_high"]) <= 1.0
    assert (bundle / "eval" / "roc_abnormal_comparison.png").stat().st_size > 0
    assert tree_digest(data) == before


def _bundle_cli(run_id: str, config_files: str, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "monai.bundle", "run", run_id, "--config_file", config_files, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=BUNDLE)


def test_training_writes_plain_state_dicts_and_soft_label_statistics(tmp_path, synthetic_vindr):
    _train(tmp_path, synthetic_vindr, max_epochs=2)
    models = tmp_path / "models"
    encoder = SiameseEncoder()
    encoder.load_state_dict(torch.load(models / "model.pt", weights_only=True))
    for name in ("net_a.pt", "net_b.pt", "checkpoint_epoch=2.pt"):
        torch.load(models / name, weights_only=True)
    # MONAI's CheckpointSaver keeps the last two epochs: one is intact whenever the other is being written
    assert sorted(path.name for path in models.glob("checkpoint_*.pt")) == ["checkpoint_epoch=1.pt",
                                                                           "checkpoint_epoch=2.pt"]
    assert not (models / "detector.json").exists()  # calibrate_detector false
    stats = json.loads((tmp_path / "logs" / "soft_label_stats.json").read_text())
    assert [record["epoch"] for record in stats] == [2, 2]  # refresh before epoch 2, and after training
    assert stats[-1]["after_training"] is True
    final = stats[-1]["net_a"]
    assert len(final["gmm_means"]) == 2 or final["fallback"]
    assert set(final["soft_labels_unpinned"]) >= {"lesion", "candidate_normal", "normal_normal"}
    assert any((tmp_path / "logs").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("pair_augmentation", [False, True])
def test_resumed_run_matches_an_uninterrupted_one(tmp_path, synthetic_vindr, pair_augmentation):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    settings = {"cache_dir": str(tmp_path / "cache"), "pair_augmentation": pair_augmentation}
    _train(straight, synthetic_vindr, max_epochs=3, **settings)
    _train(interrupted, synthetic_vindr, max_epochs=2, **settings)
    _train(interrupted, synthetic_vindr, max_epochs=3, **settings)
    expected = torch.load(straight / "models" / "checkpoint_epoch=3.pt", weights_only=True)
    resumed = torch.load(interrupted / "models" / "checkpoint_epoch=3.pt", weights_only=True)
    assert resumed["trainer"] == expected["trainer"] and expected["trainer"]["iteration"] > 0
    for key, value in expected["network"].items():
        torch.testing.assert_close(resumed["network"][key], value, msg=f"{key} differs after resume")
    torch.testing.assert_close(resumed["bank"]["from_a"], expected["bank"]["from_a"])


def test_non_finite_distance_stops_with_a_clear_message():
    class Diverged(torch.nn.Module):
        def forward(self, image_a, image_b):
            nan = torch.full((image_a.shape[0],), float("nan"), requires_grad=True)
            return {"distance_a": nan, "distance_b": nan}

    class State:
        epoch, iteration = 3, 17

    class Engine:
        inferer = SimpleInferer()
        network = Diverged()
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        loss_function = None
        state = State()

    step = CoTrainingIteration(SoftLabelBank([0, -1]), MixedPrecision("cpu", enabled=False))
    batch = {"image_a": torch.zeros(2, 1, 8, 8), "image_b": torch.zeros(2, 1, 8, 8), "index": torch.tensor([0, 1])}
    with pytest.raises(FloatingPointError, match="epoch 3, iteration 17"):
        step(Engine(), batch)


def _torchrun(config_files: list[str], *args: str) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node 2 -m monai.bundle run training`` on CPU (gloo), on a free port (``--standalone``),
    from the bundle folder, as the README runs it."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    configs = "[" + ",".join(f"'{CONFIGS / name}'" for name in config_files) + "]"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "monai.bundle", "run", "training", "--config_file", configs, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, cwd=BUNDLE)


def test_torchrun_two_processes_train_calibrate_and_write_once(tmp_path, synthetic_vindr):
    result = _torchrun(["train.json", "multi_gpu_train.json"], "--bundle_root", str(tmp_path),
                       "--dataset_dir", str(synthetic_vindr), "--max_epochs", "2", "--pairs_per_exam", "4",
                       "--batch_size", "8", "--calibration_exams", "8")
    assert result.returncode == 0, result.stderr[-3000:]
    models = tmp_path / "models"
    checkpoint = torch.load(models / "checkpoint_epoch=2.pt", weights_only=True)
    assert checkpoint["trainer"]["iteration"] == 2 * checkpoint["trainer"]["epoch_length"]
    SiameseEncoder().load_state_dict(torch.load(models / "model.pt", weights_only=True))
    detector = json.loads((models / "detector.json").read_text())  # calibrated at the end, by rank 0
    assert detector["format"] == "mammo-asymmetry-detector" and detector["n_exams_fit"] == 8
    assert (tmp_path / "logs" / "soft_label_stats.json").exists()
    assert (result.stdout + result.stderr).count("detector calibration fitted on 8 exams") == 1  # rank 0 alone
    assert len(list((tmp_path / "logs").glob("events.out.tfevents.*"))) == 1  # and writes TensorBoard events
    assert not (BUNDLE / "runs").exists()  # no rank writes TensorBoard events beside the configs


def test_torchrun_two_processes_with_a_self_supervised_overlay(tmp_path, synthetic_vindr):
    result = _torchrun(["train.json", "train_ssl.json", "train_simclr.json", "multi_gpu_train.json"],
                       "--bundle_root", str(tmp_path), "--dataset_dir", str(synthetic_vindr), "--max_epochs", "1",
                       "--pairs_per_exam", "2", "--batch_size", "8")
    assert result.returncode == 0, result.stderr[-3000:]
    models = tmp_path / "models" / "simclr"
    SiameseEncoder().load_state_dict(torch.load(models / "model.pt", weights_only=True))
    assert [path.name for path in models.glob("checkpoint_*.pt")] == ["checkpoint_epoch=1.pt"]
    assert not (tmp_path / "models" / "model.pt").exists()  # the Siamese export is left alone


def test_torchrun_two_processes_with_the_science_preset(tmp_path, synthetic_vindr):
    result = _torchrun(["train.json", "preset_science.json", "multi_gpu_train.json"], "--bundle_root", str(tmp_path),
                       "--dataset_dir", str(synthetic_vindr), "--max_epochs", "1", "--pairs_per_exam", "2",
                       "--batch_size", "8", "--calibrate_detector", "False")
    assert result.returncode == 0, result.stderr[-3000:]
    models = tmp_path / "models" / "science"  # the preset's own folders
    SiameseEncoder().load_state_dict(torch.load(models / "model.pt", weights_only=True))
    assert (tmp_path / "cache" / "science").is_dir() and (tmp_path / "logs" / "science").is_dir()


def test_evaluation_of_synthetic_data_probes_the_benchmark_evaluation_set(tmp_path, synthetic_vindr):
    """Built-in synthetic data is probed on the frozen benchmark's held-out evaluation set (here the tests' tiny
    stand-in, 14 patients none of whom trained), against both kinds of normal controls."""
    from custom.mammography.data.synthetic import benchmark

    _train(tmp_path, synthetic_vindr, max_epochs=1)
    workflow = ConfigWorkflow(
        config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "evaluate.json")],
        meta_file=str(CONFIGS / "metadata.json"), logging_file=str(CONFIGS / "logging.conf"),
        workflow_type="train", run_id="evaluating", bundle_root=str(tmp_path), dataset_dir=str(synthetic_vindr),
        **TINY,
    )
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    for folder in (tmp_path / "eval", tmp_path / "eval" / "matched_controls"):
        rows = [r for r in csv.DictReader(open(folder / "comparison.csv")) if r["task"] == "abnormal"]
        assert {r["encoder"] for r in rows} == {"siamese_softlabel", "random_init"}
    normal = [r for r in csv.DictReader(open(tmp_path / "eval" / "comparison.csv")) if r["task"] == "abnormal"]
    assert int(normal[0]["n_patients"]) == benchmark.EVALUATION_SET.studies
    assert benchmark.EVALUATION_SET.folder().joinpath("COMPLETE").exists()


def test_multi_gpu_config_only_overrides_ids_of_train_json():
    """As the model zoo's bundles do: every id multi_gpu_train.json sets exists in train.json (but the rank and
    the finalize step, which tears the process group down), so that no training setting can be missing from the
    multi-process run."""
    from monai.bundle import ConfigParser

    train = ConfigParser(ConfigParser.load_config_file(CONFIGS / "train.json"))
    overrides = ConfigParser.load_config_file(CONFIGS / "multi_gpu_train.json")
    missing = [key for key in overrides if key not in ("rank", "finalize") and key not in train]
    assert not missing, missing
    assert "train#handlers" not in overrides


@pytest.mark.parametrize("preset", ["preset_science.json", "preset_paper.json"])
def test_a_preset_writes_its_own_synthetic_data_on_a_first_run(tmp_path, preset):
    """A preset without --dataset_dir generates its synthetic studies into its own folder, as the README run does."""
    workflow = ConfigWorkflow(config_file=[str(CONFIGS / "train.json"), str(CONFIGS / preset)],
                              workflow_type="train", run_id="training", bundle_root=str(tmp_path),
                              synthetic_studies=2, synthetic_preset="test")
    workflow.initialize()
    manifest = workflow.parser.get_parsed_content("data_source").manifest
    name = preset.removeprefix("preset_").removesuffix(".json")
    assert len(manifest) == 8
    assert all(Path(path).is_relative_to(tmp_path / "data" / f"synthetic_{name}") for path in manifest["path"])
    workflow.finalize()
