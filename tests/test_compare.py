"""The comparison run: same patches, seed and budget for every method; patient-disjoint probe; resume."""

from __future__ import annotations

import csv
import json

import pytest

import custom.mammography.compare.protocol as protocol
from custom.mammography.compare import compare
from custom.mammography.compare.protocol import PresetBudget, make_protocol
from custom.mammography.compare.run import check_patient_disjoint

PROBE = {"n_splits": 2, "min_samples_per_class": 2, "n_bootstrap": 100}
METHODS = ("siamese_softlabel", "ablation_one_network", "simclr", "random_init", "raw_pixels", "supervised")


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
    assert (out / "patch96" / "roc_abnormal.png").stat().st_size > 0

    recorded = json.loads((out / "protocol.json").read_text())
    assert recorded["seed"] == 0 and recorded["budgets"]["96"]["epochs"] == 1
    simclr = json.loads((out / "patch96" / "simclr" / "settings.json").read_text())
    siamese = json.loads((out / "patch96" / "siamese_softlabel" / "done.json").read_text())["settings"]
    supervised = json.loads((out / "patch96" / "supervised" / "done.json").read_text())["settings"]
    for settings in (simclr, supervised):
        assert (settings["seed"], settings["epochs"], settings["batch_size"]) == (0, 1, 8)
    assert (siamese["seed"], siamese["max_epochs"], siamese["batch_size"]) == (0, 1, 8)
    # the Siamese method and SimCLR see the same patches: both sides of every pair
    pairs = siamese["pairs_per_exam"], siamese["candidate_pairs_per_exam"]
    assert pairs == (2, 3) and simclr["patches"] % 2 == 0

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
