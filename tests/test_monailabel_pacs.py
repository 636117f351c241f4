"""The MONAI Label app on a PACS, called as a viewer calls it: the study is held only in Orthanc, the server is
started with ``--studies http://.../dicom-web``, ``/datastore/`` lists the study's MG series, ``/infer`` returns
an image's heatmap (the one ``heatmap`` computes on the same files) and the DICOM SR appears in Orthanc, once.

Needs MONAI Label's own environment (``MONAILABEL_PYTHON``; ``bash monailabel_app/run_e2e.sh`` makes it and runs
this file) and Orthanc (``apt-get install orthanc orthanc-dicomweb``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from custom.mammography.detection.cli import detect_study
from custom.mammography.detection.exams import ImageInput
from custom.pacs.connection import Pacs
from custom.pacs.orthanc import TemporaryOrthanc
from custom.pacs.untrained import untrained_bundle
from custom.pacs.upload import upload_files
from tests.pacs_fixtures import study_copy
from tests.test_monailabel_server import _get, _post, monailabel_server

REPO = Path(__file__).resolve().parents[1]
MONAILABEL_PYTHON = os.environ.get("MONAILABEL_PYTHON")
pytestmark = [
    pytest.mark.skipif(not MONAILABEL_PYTHON,
                       reason="needs MONAILABEL_PYTHON, the MONAI Label environment: bash monailabel_app/run_e2e.sh"),
    pytest.mark.skipif(shutil.which("Orthanc") is None,
                       reason="needs Orthanc: apt-get install orthanc orthanc-dicomweb"),
]


def test_infer_on_a_study_held_only_in_orthanc_stores_the_sr_there(synthetic_vindr, tmp_path):
    bundle = untrained_bundle(tmp_path / "bundle", REPO / "bundles" / "mammo_siamese_softlabel")
    files = sorted(next(iter(sorted((synthetic_vindr / "images").iterdir()))).glob("*.dicom"))
    with TemporaryOrthanc() as orthanc:
        pacs = Pacs(orthanc.dicomweb)
        study, copies = study_copy(files, tmp_path / "study")
        upload_files(pacs, copies)
        headers = {str(h.SeriesInstanceUID): h for h in (pydicom.dcmread(p, stop_before_pixels=True) for p in copies)}
        expected = _command_line_heatmaps(bundle, copies, tmp_path / "cli")

        with monailabel_server(tmp_path, orthanc.dicomweb, bundle,
                               {"MONAI_LABEL_DICOMWEB_CACHE_PATH": str(tmp_path / "cache")}) as (base, info):
            assert "asymmetry_heatmap" in info["models"]
            # MONAI Label lists a PACS's images by QIDO-RS with the app's filter: the four MG series
            assert json.loads(_get(f"{base}/datastore/?output=stats"))["total"] == 4

            seconds = []
            for series, header in sorted(headers.items(), key=lambda item: int(item[1].InstanceNumber))[:2]:
                start = time.perf_counter()
                label = _post(f"{base}/infer/asymmetry_heatmap?image={series}&output=image")
                seconds.append(time.perf_counter() - start)
                served = tmp_path / f"{series}.nii.gz"
                served.write_bytes(label)
                heatmap = np.asarray(nib.load(served).get_fdata())
                assert heatmap.shape == (header.Columns, header.Rows)  # NIfTI: x (columns) first
                np.testing.assert_allclose(heatmap, expected[str(header.SOPInstanceUID)], atol=1e-4)
                params = json.loads(_post(f"{base}/infer/asymmetry_heatmap?image={series}&output=json"))
                assert params["sop_instance_uid"] == str(header.SOPInstanceUID) and params["pacs_run"] == 1
                assert params["stored_now"] is False  # the first call stored run 1; every later one finds it
            print("seconds to the heatmap per image:", [round(value, 1) for value in seconds])

            results = [item for item in pacs.series_of(study) if item.Modality != "MG"]
            descriptions = sorted(str(item.SeriesDescription) for item in results)
            assert descriptions == [f"{bundle.name} 0.6.1 run 1: candidates", f"{bundle.name} 0.6.1 run 1: heatmap"]
            (sr,) = [item for item in results if item.Modality == "SR"]
            assert params["sr_series_uid"] == str(sr.SeriesInstanceUID)
            # the results are no images to annotate: the datastore still lists the four MG series only
            assert json.loads(_get(f"{base}/datastore/?output=stats"))["total"] == 4


def _command_line_heatmaps(bundle: Path, files: list[Path], out: Path) -> dict[str, np.ndarray]:
    """``heatmap``'s maps of the same exam, by SOPInstanceUID (original pixel grid, NIfTI order)."""
    run = detect_study(bundle, [ImageInput(path) for path in files], "exam", out)
    maps = {}
    for view in json.loads(run.summary.read_text())["views"]:
        for entry in view["images"].values():
            sop = str(pydicom.dcmread(entry["path"], stop_before_pixels=True).SOPInstanceUID)
            maps[sop] = np.asarray(nib.load(run.summary.parent / entry["heatmap"]).get_fdata())
    return maps
