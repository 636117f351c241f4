"""The comparison run: same patches, seed and budget for every method; patient-disjoint probe; resume; the
self-supervised baselines trained through the bundle's configs."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigWorkflow

import custom.mammography.compare.protocol as protocol
from custom.mammography.compare import compare
from custom.mammography.compare.methods import pretrain
from custom.mammography.compare.protocol import METHODS as ALL_METHODS, PresetBudget, make_protocol
from custom.mammography.compare.run import check_patient_disjoint
from custom.mammography.data.source import MammoDataSource

PROBE = {"n_splits": 2, "min_samples_per_class": 2, "n_bootstrap": 100}
METHODS = ("siamese_softlabel", "ablation_one_network", "simclr", "random_init", "raw_pixels", "supervised")
BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "mammo_siamese_softlabel"


@pytest.fixture
def tiny_preset(monkeypatch):
    tiny = {"synthetic_studies": 0,
            "budgets": {"96": PresetBudget(epochs=1, pairs_per_exam=2, candidate_pairs_per_exam=3, batch_size=8)}}
    monkeypatch.setitem(protocol.PRESETS, "tiny", tiny)
    return "tiny"


def test_probe_patients_must_not_be_pretraining_patients():
    check_patient_disjoint(["p1", "p2"], ["p3"])
    with pytest.raises(ValueError, match="1 patients are in both"):
        check_patient_disjoint(["p1", "p2"], ["p2", "p3"])


def test_unknown_preset_method_or_patch_preset_is_refused():
    with pytest.raises(ValueError, match="unknown preset"):
        make_protocol("huge")
    with pytest.raises(ValueError, match="unknown methods"):
        make_protocol("quick", methods=("simclr", "dino"))
    with pytest.raises(ValueError, match="unknown patch presets"):
        make_protocol("quick", patch_presets=("128",))


def test_the_science_preset_gives_the_ranking_methods_24_epochs_on_the_readme_data():
    science = make_protocol("science")
    assert science.synthetic_studies == 120 and list(science.budgets) == ["96"]
    assert science.budgets["96"].epochs == 24 and science.budgets["96"].pairs_per_exam == 8
    assert science.methods == ("siamese_softlabel", "ablation_hard_labels", "simclr", "byol", "random_init",
                               "raw_pixels", "supervised")
    assert make_protocol("quick").methods == ALL_METHODS  # the other presets compare every method
    assert make_protocol("science", methods=("simclr",)).methods == ("simclr",)


def test_every_method_gets_the_same_budget_and_the_run_resumes(tmp_path, synthetic_vindr, tiny_preset):
    out = tmp_path / "cmp"
    rows = compare(str(synthetic_vindr), str(out), preset=tiny_preset, methods=METHODS, embedding_maps=False,
                   probe_options=PROBE)

    table = list(csv.DictReader(open(out / "table.csv")))
    assert {row["method"] for row in table if row["task"] == "abnormal"} == set(METHODS)
    # against matched controls too, and on the benchmark's evaluation set (the tests' tiny stand-in)
    assert {row["method"] for row in table if row["task"] == "abnormal_matched"} == set(METHODS)
    from custom.mammography.data.synthetic import benchmark
    assert {int(row["n_patients"]) for row in table if row["task"] == "abnormal"} == {benchmark.EVALUATION_SET.studies}
    for row in table:
        assert 0 <= float(row["ci_low"]) <= float(row["value"]) <= float(row["ci_high"]) <= 1
    assert "| siamese_softlabel |" in (out / "table.md").read_text()
    # paired differences: every method against random_init and against the best other method, same patients
    auc = {(row["method"], row["task"]): float(row["value"]) for row in table}
    for row in table:
        others = {m: v for (m, task), v in auc.items() if task == row["task"] and m != row["method"]}
        assert row["best_other"] == max(others, key=others.get)
        assert float(row["diff_best_other"]) == pytest.approx(float(row["value"]) - others[row["best_other"]])
        assert float(row["diff_ci_low_best_other"]) <= float(row["diff_best_other"]) <= float(row["diff_ci_high_best_other"])
        if row["method"] == "random_init":
            assert row["reference"] == "" and row["diff_reference"] == ""
        else:
            assert row["reference"] == "random_init"
            assert float(row["diff_reference"]) == pytest.approx(float(row["value"]) - others["random_init"])
            assert float(row["diff_ci_low_reference"]) <= float(row["diff_reference"]) <= float(row["diff_ci_high_reference"])
    assert "| method | AUC | minus random_init | minus the best other method |" in (out / "table.md").read_text()
    # the Siamese method against every other method (runner-up, ablations), paired, in the CSV and table.md
    focus = list(csv.DictReader(open(out / "siamese_softlabel_differences.csv")))
    tasks = {row["task"] for row in table if row["method"] == "siamese_softlabel"}
    assert {(row["other"], row["task"]) for row in focus} == {(m, t) for m in METHODS if m != "siamese_softlabel" for t in tasks}
    for row in focus:
        expected = auc[("siamese_softlabel", row["task"])] - auc[(row["other"], row["task"])]
        assert float(row["diff"]) == pytest.approx(expected)
        assert float(row["ci_low"]) <= float(row["diff"]) <= float(row["ci_high"])
    assert "### siamese_softlabel minus each other method, patch preset 96" in (out / "table.md").read_text()
    assert (out / "patch96" / "roc_abnormal.png").stat().st_size > 0

    recorded = json.loads((out / "protocol.json").read_text())
    assert recorded["seed"] == 0 and recorded["budgets"]["96"]["epochs"] == 1
    simclr = json.loads((out / "patch96" / "simclr" / "done.json").read_text())["settings"]
    siamese = json.loads((out / "patch96" / "siamese_softlabel" / "done.json").read_text())["settings"]
    supervised = json.loads((out / "patch96" / "supervised" / "done.json").read_text())["settings"]
    assert (supervised["seed"], supervised["epochs"], supervised["batch_size"]) == (0, 1, 8)
    for settings in (siamese, simclr):
        assert (settings["seed"], settings["max_epochs"], settings["batch_size"]) == (0, 1, 8)
    # the Siamese method and SimCLR see the same patches: the pairs of train.json's dataset (SimCLR both sides)
    assert siamese["config_files"] == ["train.json"]
    assert simclr["config_files"] == ["train.json", "train_ssl.json", "train_simclr.json"]
    for settings in (siamese, simclr):
        assert (settings["pairs_per_exam"], settings["candidate_pairs_per_exam"]) == (2, 3)

    stamps = {p: p.stat().st_mtime_ns for p in (out / "patch96").rglob("model.pt")}
    again = compare(str(synthetic_vindr), str(out), preset=tiny_preset, methods=METHODS, embedding_maps=False,
                   probe_options=PROBE)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing was trained again
    assert [r["value"] for r in again] == pytest.approx([r["value"] for r in rows])


def test_embedding_maps_show_the_same_subsample_of_every_method(tmp_path, monkeypatch):
    import numpy as np

    import custom.mammography.compare.report as report
    fitted = []

    class RecordingTSNE:  # records what each map was fitted on, and places the points at random
        def __init__(self, **options):
            self.options = options

        def fit_transform(self, features):
            fitted.append(features)
            return np.random.default_rng(0).normal(size=(len(features), 2))

    monkeypatch.setattr(report, "TSNE", RecordingTSNE)
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 8))
    abnormal = (np.arange(200) % 4 == 0).astype(int)
    maps = {"a": (features, abnormal), "b": (features * 2, abnormal)}
    path = report.plot_embedding_maps(maps, tmp_path / "maps.png", seed=0, title="t", max_points=50)
    assert path.stat().st_size > 0
    assert [len(f) for f in fitted] == [50, 50]
    np.testing.assert_allclose(fitted[1], 2 * fitted[0])  # the same patches in both maps
    assert len({tuple(row) for row in fitted[0]}) == 50  # drawn without replacement


def test_a_missing_bundle_is_named_before_any_work(tmp_path):
    with pytest.raises(FileNotFoundError, match="no bundle here .* pass --bundle"):
        compare(str(tmp_path / "data"), str(tmp_path / "out"), bundle=tmp_path / "nowhere")
    assert not (tmp_path / "out").exists()
    # a bundle without a baseline's config files: named before any method trains
    partial = tmp_path / "partial"
    (partial / "configs").mkdir(parents=True)
    for name in ("train.json", "train_simclr.json"):
        (partial / "configs" / name).write_text((BUNDLE / "configs" / name).read_text())
    with pytest.raises(FileNotFoundError, match=r"missing: \S*partial/configs/train_ssl.json$"):
        compare(str(tmp_path / "data"), str(tmp_path / "out"), methods=("siamese_softlabel", "simclr"), bundle=partial)
    assert not (tmp_path / "out").exists()


def test_a_baseline_trains_through_its_bundle_configs_as_a_direct_run_does(tmp_path, synthetic_vindr):
    budget = PresetBudget(epochs=1, pairs_per_exam=1, candidate_pairs_per_exam=2, batch_size=8, moco_queue_size=24)
    cache = tmp_path / "cache"
    source = MammoDataSource(str(synthetic_vindr), "vindr", cache_dir=str(cache), patch_preset_name="96", seed=0,
                             synthetic_studies=0)
    out = tmp_path / "compare" / "moco"

    def run(**changes):
        return pretrain("moco", source=source, budget=replace(budget, **changes), seed=0,
                        device=torch.device("cpu"), amp=True, out_dir=out, bundle=BUNDLE)

    trained = run()
    # where train_ssl.json writes: the run's folder is the bundle root
    models = out / "models" / "moco"
    checkpoint = torch.load(models / "checkpoint_epoch=1.pt", weights_only=True)
    assert checkpoint["trainer"]["iteration"] == checkpoint["trainer"]["epoch_length"]  # one epoch
    assert checkpoint["network"]["queue"].shape == (24, 128)  # the budget's queue, not the overlay's 4096
    assert any((out / "logs" / "moco").iterdir()) and trained.pretrain_seconds > 0
    assert not (out / "models" / "model.pt").exists()

    # the same three config files run directly, with the same data, budget and seed, give the same encoder
    configs = BUNDLE / "configs"
    direct = ConfigWorkflow(
        config_file=[str(configs / name) for name in ("train.json", "train_ssl.json", "train_moco.json")],
        meta_file=str(configs / "metadata.json"), logging_file=str(configs / "logging.conf"), workflow_type="train",
        bundle_root=str(tmp_path / "direct"), dataset_dir=str(synthetic_vindr), cache_dir=str(cache), seed=0,
        max_epochs=1, pairs_per_exam=1, candidate_pairs_per_exam=2, batch_size=8, learning_rate=1e-3, amp=True,
        device="$torch.device('cpu')", **{"ssl_options#queue_size": 24},
    )
    direct.initialize()
    direct.run()
    direct.finalize()
    expected = torch.load(tmp_path / "direct" / "models" / "moco" / "model.pt", weights_only=True)
    compared = trained.features.encoder.state_dict()
    assert compared.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(compared[key], value, rtol=0, atol=0, msg=f"{key} differs from the direct run")

    # a restart loads the finished run: not trained again, same weights and recorded wall time
    written = (models / "model.pt").stat().st_mtime_ns
    again = run()
    assert (models / "model.pt").stat().st_mtime_ns == written and again.pretrain_seconds == trained.pretrain_seconds
    torch.testing.assert_close(again.features.encoder.state_dict(), compared, rtol=0, atol=0)

    # interrupted after its last checkpoint: the same settings resume from it (nothing left to train) ...
    (out / "done.json").unlink()
    checkpointed = (models / "checkpoint_epoch=1.pt").stat().st_mtime_ns
    resumed = run()
    assert (models / "checkpoint_epoch=1.pt").stat().st_mtime_ns == checkpointed  # no epoch ran again
    torch.testing.assert_close(resumed.features.encoder.state_dict(), compared, rtol=0, atol=0)
    # ... other settings start afresh instead of resuming a checkpoint of the old ones
    (out / "done.json").unlink()
    changed = run(learning_rate=1e-2)
    assert not torch.equal(changed.features.encoder.state_dict()["backbone.conv1.weight"],
                           compared["backbone.conv1.weight"])
