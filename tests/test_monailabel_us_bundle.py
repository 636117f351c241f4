"""The ultrasound bundle's inference as MONAI Label serves any bundle: its own ``BundleInferTask`` on an exported
bundle's ``inference.json``, one PNG in, a label map in the image's own size out, equal to the mask the bundle's
own inference writes for the same image and weights.

Runs where ``MONAILABEL_PYTHON`` names the MONAI Label environment (``bash monailabel_app/run_e2e.sh``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow
from PIL import Image

from custom.ultrasound.synthetic import synth_us
from custom.zoo import export_bundle

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundles" / "breast_us_multiorgan_seg"
MONAILABEL_PYTHON = os.environ.get("MONAILABEL_PYTHON")
pytestmark = pytest.mark.skipif(
    not MONAILABEL_PYTHON, reason="needs MONAILABEL_PYTHON, the MONAI Label environment: bash monailabel_app/run_e2e.sh")

# what a MONAI Label server runs for /infer/<model>?image=<id>, with the label written as 8-bit PNG
_SERVE = """
import sys
from monailabel.tasks.infer.bundle import BundleInferTask
task = BundleInferTask(sys.argv[1], {"device": "cpu"})
label, _ = task({"image": sys.argv[2], "device": "cpu", "result_dtype": "uint8"})
print(task.type, sorted(task.labels))
print(label)
"""


def test_monai_labels_bundle_task_serves_the_bundles_own_mask(tmp_path):
    synthetic = tmp_path / "synthetic_us"
    synth_us(synthetic, seed=0, preset="test")
    image = next((synthetic / "Dataset_BUSI_with_GT" / "malignant").glob("* (1).png"))
    source = tmp_path / "src" / BUNDLE.name
    shutil.copytree(BUNDLE, source, ignore=shutil.ignore_patterns("models", "eval", "logs", "data", "runs"))
    (source / "models").mkdir()
    torch.save(_network_splitting(image).state_dict(), source / "models" / "model.pt")

    images = tmp_path / "images"
    images.mkdir()
    shutil.copyfile(image, images / "case.png")
    own = ConfigWorkflow(config_file=str(source / "configs" / "inference.json"),
                         meta_file=str(source / "configs" / "metadata.json"), workflow_type="infer",
                         bundle_root=str(source), image_dir=str(images))
    own.initialize()
    own.run()
    expected = np.asarray(Image.open(source / "eval" / "masks" / "case_mask.png")) // 255

    exported = export_bundle(source, tmp_path / "dist").folder
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    served = subprocess.run([MONAILABEL_PYTHON, "-c", _SERVE, str(exported), str(images / "case.png")],
                            capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert served.returncode == 0, served.stderr[-3000:]
    kind, label_file = served.stdout.strip().splitlines()[-2:]
    assert kind == "InferType.SEGMENTATION ['lesion']"
    label = np.asarray(Image.open(label_file))
    assert label.shape == np.asarray(Image.open(image).convert("L")).shape
    assert 0.2 < expected.mean() < 0.8  # lesion and background both present: a real comparison
    np.testing.assert_array_equal(label, expected)


def _network_splitting(image: Path) -> torch.nn.Module:
    """A seeded network whose head's bias is set so that about half of ``image``'s pixels come out as lesion (a
    seeded network alone marks all or none)."""
    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "configs" / "inference.json"))
    torch.manual_seed(3)
    network = parser.get_parsed_content("network_def").eval()
    tensor = parser.get_parsed_content("preprocessing")({"image": str(image)})["image"][None]
    with torch.no_grad():
        logits = network(tensor.as_tensor())[0]
        network.segmentation_head[0].bias[1] -= torch.median(logits[1] - logits[0])
    return network
