"""LinearProbeEvaluator: a MONAI evaluator comparing frozen encoders by patient-level linear probes."""

import csv
import json

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.handlers import StatsHandler
from torch import nn
from torch.utils.data import DataLoader

from custom.evaluation import LinearProbeEvaluator
from custom.evaluation.probe_evaluator import COMPARISON_COLUMNS

PATCH = 16
N_PATIENTS = 30
PER_PATIENT = 4  # two abnormal, two normal patches per patient


def _items(seed=0):
    """Noise patches; the abnormal ones carry a bright Gaussian blob at a random place."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:PATCH, :PATCH]
    items = []
    for patient in range(N_PATIENTS):
        for k in range(PER_PATIENT):
            abnormal = int(k < 2)
            image = rng.normal(0.3, 0.1, (PATCH, PATCH))
            if abnormal:
                cy, cx = rng.uniform(4, PATCH - 4, 2)
                image += 0.8 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 2.0**2))
            items.append(
                {
                    "image": torch.from_numpy(image.astype(np.float32))[None],
                    "abnormal": abnormal,
                    "birads": int(rng.integers(4, 6)) if abnormal else 1,
                    "malignant": int(rng.integers(0, 2)) if abnormal else -1,
                    "patient_id": f"patient{patient:02d}",
                }
            )
    return items


class Brightness(nn.Module):
    """Tiny conv net that can see the blob: the global max and mean of the image and of conv features."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        self.dropout = nn.Dropout(0.5)
        self.norm = nn.BatchNorm1d(10)

    def forward(self, x):
        features = self.dropout(self.conv(x))
        pooled = [x.amax(dim=(2, 3)), x.mean(dim=(2, 3)), features.amax(dim=(2, 3)), features.mean(dim=(2, 3))]
        return self.norm(torch.cat(pooled, dim=1))


class Noise(nn.Module):
    """Embeddings that ignore the image."""

    def __init__(self):
        super().__init__()
        self.generator = torch.Generator().manual_seed(0)

    def forward(self, x):
        return torch.randn(x.shape[0], 8, generator=self.generator).to(x.device)


class MetricsSeenByHandlers:
    """A val handler recording the metrics it sees at EPOCH_COMPLETED, as StatsHandler or a saver would."""

    def __init__(self):
        self.seen = []

    def attach(self, engine):
        from ignite.engine import Events

        engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: self.seen.append(dict(e.state.metrics)))


def _modes(module):
    return [sub.training for sub in module.modules()]


def test_evaluator_compares_encoders(tmp_path):
    informative, noise = Brightness().train(), Noise().eval()
    informative.dropout.eval()  # a submodule deliberately in eval mode inside a training module
    modes = _modes(informative), _modes(noise)
    recorder = MetricsSeenByHandlers()
    evaluator = LinearProbeEvaluator(
        device="cpu",
        val_data_loader=DataLoader(_items(), batch_size=32),
        encoders={"brightness": informative, "noise": noise},
        output_dir=tmp_path,
        n_bootstrap=200,
        val_handlers=[StatsHandler(iteration_log=False, name="probe_test"), recorder],
        reference="noise",
    )
    evaluator.run()

    assert (_modes(informative), _modes(noise)) == modes, "the encoders' modes must be restored"
    metrics = evaluator.state.metrics
    assert metrics["probe_auc_abnormal_brightness"] > 0.9
    assert metrics["probe_auc_abnormal_brightness"] > metrics["probe_auc_abnormal_noise"]
    assert abs(metrics["probe_auc_abnormal_noise"] - 0.5) < 0.2
    assert metrics["probe_auc_abnormal"] == metrics["probe_auc_abnormal_brightness"]
    assert {"probe_auc_birads_noise", "probe_auc_malignant_brightness"} <= set(metrics)
    assert evaluator.state.key_metric_name == "probe_auc_abnormal"
    assert evaluator.state.best_metric == metrics["probe_auc_abnormal"]
    assert recorder.seen == [metrics], "val handlers must see the probe metrics"

    with open(tmp_path / "comparison.csv") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COMPARISON_COLUMNS
    assert [(row["encoder"], row["task"]) for row in rows] == [
        (encoder, task) for encoder in ("brightness", "noise") for task in ("abnormal", "birads", "malignant")
    ]
    assert json.loads((tmp_path / "comparison.json").read_text()) == evaluator.results
    abnormal = {row["encoder"]: row for row in evaluator.results if row["task"] == "abnormal"}
    assert abnormal["brightness"]["value"] == metrics["probe_auc_abnormal_brightness"]
    assert abnormal["brightness"]["n"] == 120 and abnormal["brightness"]["n_patients"] == N_PATIENTS
    assert abnormal["noise"]["ci_low"] < abnormal["noise"]["value"] < abnormal["noise"]["ci_high"]
    # paired differences on the same patients: the informative encoder beats the noise, and the interval says so
    brightness = abnormal["brightness"]
    assert brightness["reference"] == brightness["best_other"] == "noise"
    assert brightness["diff_reference"] == pytest.approx(brightness["value"] - abnormal["noise"]["value"])
    assert 0 < brightness["diff_ci_low_reference"] < brightness["diff_reference"] < brightness["diff_ci_high_reference"]
    assert "reference" not in abnormal["noise"] and abnormal["noise"]["best_other"] == "brightness"
    assert (tmp_path / "roc_abnormal_comparison.png").stat().st_size > 0
    for encoder in ("brightness", "noise"):
        report = json.loads((tmp_path / encoder / "metrics.json").read_text())
        assert report["settings"]["bootstrap_unit"] == "patient"
        assert (tmp_path / encoder / "roc_abnormal.png").exists()


def test_evaluator_from_a_bundle_config_with_autocast(tmp_path):
    parser = ConfigParser(
        {
            "evaluator": {
                "_target_": "custom.evaluation.probe_evaluator.LinearProbeEvaluator",
                "device": "$torch.device('cpu')",
                "val_data_loader": "@loader",
                "encoders": {"brightness": "@network"},
                "output_dir": str(tmp_path),
                "n_splits": 3,
                "n_bootstrap": 100,
                "autocast_dtype": "$torch.bfloat16",
                "channels_last": True,
                "tasks": ["abnormal"],
                "key_metric_name": "val_auc",
            }
        }
    )
    parser["loader"] = DataLoader(_items(seed=1), batch_size=50)
    parser["network"] = Brightness()
    evaluator = parser.get_parsed_content("evaluator")
    assert evaluator.autocast_dtype == torch.bfloat16
    evaluator.run()
    first = evaluator.state.metrics["val_auc"]
    assert first > 0.9
    assert [row["task"] for row in evaluator.results] == ["abnormal"]
    evaluator.run(global_epoch=2)  # e.g. the next validation of a training run: embeddings start afresh
    assert evaluator.results[0]["n"] == 120
    assert evaluator.state.metrics["val_auc"] == first
    assert evaluator.state.best_metric == first and evaluator.state.best_metric_epoch == 1


def test_evaluator_argument_errors(tmp_path):
    loader = DataLoader(_items(), batch_size=32)
    with pytest.raises(ValueError, match="at least one encoder"):
        LinearProbeEvaluator("cpu", loader, {}, tmp_path)
    with pytest.raises(ValueError, match="directory name"):
        LinearProbeEvaluator("cpu", loader, {"../escape": Noise()}, tmp_path)
    with pytest.raises(ValueError, match="'abnormal'"):
        LinearProbeEvaluator("cpu", loader, {"noise": Noise()}, tmp_path, tasks=("birads",))
    with pytest.raises(ValueError, match="torch dtype"):
        LinearProbeEvaluator("cpu", loader, {"noise": Noise()}, tmp_path, autocast_dtype="float17")
