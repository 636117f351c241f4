"""The MONAI Label app against a running server, called as a viewer calls it: ``/info/``, ``/datastore/``,
``/infer/asymmetry_heatmap?image=<id>``. The heatmap that comes back must be the one ``python -m custom
heatmap`` writes for the same exam.

MONAI Label lives in its own environment (``monailabel_app/setup_env.sh``; about 3.5 minutes to install), so this
test runs where ``MONAILABEL_PYTHON`` names that environment's Python: ``bash monailabel_app/run_e2e.sh`` sets it
up and runs this file.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from monai.bundle import ConfigWorkflow

from custom.networks import seeded_encoder
from custom.zoo import export_bundle
from tests.layout_fixtures import flat_datastore

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "bundles" / "mammo_siamese_softlabel" / "configs"
MONAILABEL_PYTHON = os.environ.get("MONAILABEL_PYTHON")
pytestmark = pytest.mark.skipif(
    not MONAILABEL_PYTHON, reason="needs MONAILABEL_PYTHON, the MONAI Label environment: bash monailabel_app/run_e2e.sh")


@pytest.fixture(scope="module")
def calibrated_bundle(tmp_path_factory, synthetic_vindr) -> Path:
    """A bundle folder with an encoder and the detector calibration fitted by its detect config."""
    bundle = tmp_path_factory.mktemp("bundle")
    (bundle / "models").mkdir()
    torch.save(seeded_encoder(0, normalize=True).state_dict(), bundle / "models" / "model.pt")
    workflow = ConfigWorkflow(config_file=str(CONFIGS / "detect.json"), meta_file=str(CONFIGS / "metadata.json"),
                              logging_file=str(CONFIGS / "logging.conf"), workflow_type="infer",
                              bundle_root=str(bundle), dataset_dir=str(synthetic_vindr), calibration_split="val",
                              prepare_workers=0)
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    return bundle


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _post(url: str, timeout: float = 600.0) -> bytes:
    form = urllib.parse.urlencode({"params": "{}"}).encode()
    request = urllib.request.Request(url, data=form, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


@contextmanager
def monailabel_server(tmp_path: Path, studies: str | Path, bundle: Path, env: dict | None = None):
    """A MONAI Label server of the app on ``studies`` (a folder or a DICOMweb URL), started as a user starts it,
    in MONAI Label's environment; yields its base URL and its ``/info/`` once it answers, and stops it after."""
    app = tmp_path / "app"  # a copy: the server writes logs/, model/, bin/ and lib/ into its app folder
    app.mkdir()
    shutil.copyfile(REPO / "monailabel_app" / "main.py", app / "main.py")
    port = _free_port()
    venv_bin = str(Path(MONAILABEL_PYTHON).parent)
    environment = {**os.environ, "PATH": venv_bin + os.pathsep + os.environ["PATH"], **(env or {})}
    environment.pop("PYTHONPATH", None)
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [MONAILABEL_PYTHON, "-m", "monailabel.main", "start_server", "--app", str(app),
         "--studies", str(studies), "--conf", "bundle", str(bundle), "--conf", "python", sys.executable,
         "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=environment,
        cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        while True:
            try:
                info = json.loads(_get(f"{base}/info/"))
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
                assert time.perf_counter() - started < 240, "no answer from /info/ within 240 s"
                time.sleep(1)
        print(f"server answered /info/ after {time.perf_counter() - started:.1f} s")
        yield base, info
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


@pytest.mark.parametrize("kind", ["source", "exported"])
def test_a_running_server_serves_the_command_lines_heatmaps(kind, calibrated_bundle, synthetic_vindr, tmp_path):
    """``source``: the repository's bundle, through the project's command; ``exported``: the self-contained
    bundle of ``export-bundle``, through MONAI Label's own ``BundleInferTask`` on its ``inference.json``."""
    # a flat datastore (a copy: the server writes datastore_v2.json and labels/ into it): one exam's four
    # images, named <study>_<side>_<view>.dcm, and one image of a second exam whose other breast is missing
    studies = tmp_path / "studies"
    images, lone = flat_datastore(synthetic_vindr, studies)
    first = images[0].name.split("_")[0]
    cli_out = tmp_path / "cli"
    cli = subprocess.run([sys.executable, "-m", "custom", "heatmap", "--bundle", str(calibrated_bundle), "--images",
                          *map(str, images), "--out", str(cli_out)], capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr[-3000:]
    (summary_file,) = cli_out.glob("*/detection.json")
    expected = {Path(entry["path"]).name: summary_file.parent / entry["heatmap"]
                for view in json.loads(summary_file.read_text())["views"] for entry in view["images"].values()}

    bundle = calibrated_bundle
    if kind == "exported":
        bundle = export_bundle(CONFIGS.parent, tmp_path / "dist", weights=calibrated_bundle / "models" / "model.pt").folder
    with monailabel_server(tmp_path, studies, bundle) as (base, info):
        assert "asymmetry_heatmap" in info["models"]
        datastore = json.loads(_get(f"{base}/datastore/?output=all"))
        ids = set(datastore["objects"])
        assert {image.name.removesuffix(".dcm") for image in images} <= ids

        seconds = {}
        for image in images:
            image_id = image.name.removesuffix(".dcm")
            start = time.perf_counter()
            label = _post(f"{base}/infer/asymmetry_heatmap?image={image_id}&output=image")
            seconds[image_id] = time.perf_counter() - start
            served = tmp_path / f"{image_id}.nii.gz"
            served.write_bytes(label)
            heatmap = np.asarray(nib.load(served).get_fdata())
            reference = np.asarray(nib.load(expected[image.name]).get_fdata())
            header = pydicom.dcmread(image, stop_before_pixels=True)
            assert heatmap.shape == reference.shape == (header.Columns, header.Rows)  # NIfTI: x (columns) first
            assert np.isfinite(heatmap).all() and heatmap.min() >= 0 and heatmap.max() <= 1
            np.testing.assert_allclose(heatmap, reference, atol=1e-4)
            params = json.loads(_post(f"{base}/infer/asymmetry_heatmap?image={image_id}&output=json"))
            assert params["side"] in ("L", "R") and 0 <= params["exam_score"] <= 1
            assert Path(params["contralateral_image"]).name.startswith(first)
        print(f"seconds to the heatmap per image ({kind} bundle):", {k: round(v, 1) for k, v in seconds.items()})

        lonely = lone.name.removesuffix(".dcm")
        with pytest.raises(urllib.error.HTTPError) as refused:
            _post(f"{base}/infer/asymmetry_heatmap?image={lonely}&output=image")
        assert refused.value.code == 422
        assert "no image of the other breast (R CC)" in refused.value.read().decode()
