"""MONAI Label app: per-image lesion heatmaps of the mammo_siamese_softlabel bundle, for 3D Slicer or OHIF.

A viewer asks for one image (``/infer/asymmetry_heatmap?image=<id>``) and gets its heatmap (NIfTI in the
image's pixel grid, values in [0, 1]) as the label, with a JSON of its candidate regions and the exam score.
The other breast of the same view and exam is found in the datastore (the same DICOM StudyInstanceUID, or for
untagged files the same name with the side word changed: ``P01_L_CC.png`` and ``P01_R_CC.png``).

``--conf bundle DIR`` picks the bundle, served one of two ways:

- an exported, self-contained bundle (``python -m custom export-bundle``: the code in ``scripts/``, weights and
  ``models/detector.json``) runs in this server's process through MONAI Label's own ``BundleInferTask`` on the
  bundle's ``inference.json``, as any model-zoo bundle does;
- the repository's source bundle (the default, with ``models/model.pt`` and ``models/detector.json`` from the
  README's training) imports the installed project, which this environment does not have (MONAI Label needs
  pydicom < 3, the project pydicom 3): the app runs ``python -m custom heatmap --images <image>
  --contralateral_in <datastore folder>`` with the project's Python, ``--conf python PATH`` (default: the
  interpreter this environment was created from, which sees the project when the environment was made by
  ``monailabel_app/setup_env.sh``).

Both give the same heatmap and candidates for the same image (``tests/test_monailabel_server.py``).

``--studies http://.../dicom-web`` serves a PACS instead of a folder: MONAI Label's own DICOMweb datastore,
listing MG series only and keeping them as DICOM (no conversion to NIfTI, which would stack a series into a
volume and lose laterality and view), without the dcmqi download MONAI Label's start would try (unreachable
offline; this app stores no SEG). An image id is then a SeriesInstanceUID. For each request the app runs
``python -m custom pacs-detect --if_done skip`` on the image's study with the project's Python: it fetches the
study's other views (the contralateral breast included) over DICOMweb, and stores the DICOM SR and the heatmap
overlays in the study the first time (``docs/pacs.md``); the requested image's heatmap comes back as the label
(``tests/test_monailabel_pacs.py``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fastapi import HTTPException
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType
from monailabel.config import settings
from monailabel.datastore.dicom import DICOMwebClientX, DICOMWebDatastore
from monailabel.datastore.local import LocalDatastore
from monailabel.tasks.infer.bundle import BundleInferTask

logger = logging.getLogger(__name__)
DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "mammo_siamese_softlabel"
IMAGE_PATTERNS = ["*.dcm", "*.dicom", "*.nii.gz", "*.nii", "*.png"]


class AsymmetryHeatmap(InferTask):
    """One image in; its asymmetry heatmap out as the label, and its candidates and the exam score as JSON."""

    def __init__(self, bundle: Path, python: str, patch: str = "96"):
        super().__init__(type=InferType.OTHERS, labels={"asymmetry": 1}, dimension=2,
                         description="Lesion heatmap from the contralateral Siamese encoder (values in [0, 1]) and "
                                     "ranked candidate regions; needs the other breast of the same view and exam")
        self.bundle, self.python, self.patch = Path(bundle), python, patch

    def is_valid(self) -> bool:
        return all((self.bundle / "models" / name).is_file() for name in ("model.pt", "detector.json"))

    def __call__(self, request):
        image = Path(request["image"])
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="asymmetry-") as out:
            command = [self.python, "-m", "custom", "heatmap", "--bundle", str(self.bundle), "--images", str(image),
                       "--contralateral_in", str(image.parent), "--out", out, "--patch", self.patch]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                # the command's one-line error (a missing other breast, an unreadable file) goes to the viewer
                lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
                raise HTTPException(status_code=422 if lines else 500,
                                    detail=lines[-1] if lines else done.stderr[-2000:])
            (summary_file,) = Path(out).glob("*/detection.json")
            view, side = _entry_of(json.loads(summary_file.read_text()), image)
            heatmap = tempfile.NamedTemporaryFile(suffix=".nii.gz", delete=False).name
            shutil.copyfile(summary_file.parent / view["images"][side]["heatmap"], heatmap)
        other = next(entry["path"] for key, entry in view["images"].items() if key != side)
        seconds = time.perf_counter() - start
        logger.info("asymmetry heatmap of %s (other breast %s): exam score %.3f, %.1f s", image.name,
                    Path(other).name, view["score"], seconds)
        return heatmap, {"image": str(image), "contralateral_image": other, "view": view["view"], "side": side,
                         "exam_score": view["score"], "candidates": view["images"][side]["candidates"],
                         "seconds": round(seconds, 2)}


class PacsAsymmetryHeatmap(InferTask):
    """A PACS image (a DICOMweb series MONAI Label fetched into its cache) in; its heatmap out as the label, and
    the candidates, the exam score and the result series ``pacs-detect`` stored in the PACS as JSON."""

    def __init__(self, dicomweb: str, bundle: Path, python: str, patch: str = "96"):
        super().__init__(type=InferType.OTHERS, labels={"asymmetry": 1}, dimension=2,
                         description="Lesion heatmap from the contralateral Siamese encoder (values in [0, 1]); the "
                                     "study's candidates are stored in the PACS as a DICOM SR")
        self.dicomweb, self.bundle, self.python, self.patch = dicomweb, Path(bundle), python, patch

    def is_valid(self) -> bool:
        return all((self.bundle / "models" / name).is_file() for name in ("model.pt", "detector.json"))

    def __call__(self, request):
        import pydicom

        series = Path(request["image"])
        files = sorted(series.glob("*.dcm")) if series.is_dir() else [series]
        if not files:
            raise HTTPException(status_code=422, detail=f"error: no DICOM file fetched for series {series.name}")
        headers = sorted((pydicom.dcmread(path, stop_before_pixels=True) for path in files),
                         key=lambda header: int(header.get("InstanceNumber", 0) or 0))
        study, sop = str(headers[0].StudyInstanceUID), str(headers[0].SOPInstanceUID)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="pacs-asymmetry-") as out:
            command = [self.python, "-m", "custom", "pacs-detect", "--dicomweb", self.dicomweb, "--study", study,
                       "--bundle", str(self.bundle), "--if_done", "skip", "--out", out, "--patch", self.patch]
            done = subprocess.run(command, capture_output=True, text=True, env=_pacs_environment())
            if done.returncode != 0:
                lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
                raise HTTPException(status_code=422 if lines else 500,
                                    detail=lines[-1] if lines else done.stderr[-2000:])
            folder = Path(out) / study
            stored = json.loads((folder / "pacs.json").read_text())
            summary = json.loads((folder / "detection.json").read_text())
            view, side = _entry_of(summary, folder / "images" / f"{sop}.dcm")
            heatmap = tempfile.NamedTemporaryFile(suffix=".nii.gz", delete=False).name
            shutil.copyfile(folder / view["images"][side]["heatmap"], heatmap)
        seconds = time.perf_counter() - start
        run = stored["run"] or max(stored["earlier_runs"])
        logger.info("asymmetry heatmap of series %s (study %s): exam score %.3f, results in the PACS as run %d, "
                    "%.1f s", series.name, study, view["score"], run, seconds)
        return heatmap, {"image": series.name, "sop_instance_uid": sop, "study_instance_uid": study,
                         "view": view["view"], "side": side, "exam_score": view["score"],
                         "candidates": view["images"][side]["candidates"], "pacs_run": run,
                         "stored_now": stored["run"] is not None, "sr_series_uid": stored["series"].get("candidates"),
                         "seconds": round(seconds, 2)}


def _pacs_environment() -> dict:
    """The server's environment for ``pacs-detect``, with MONAI Label's DICOMweb credentials under the names
    ``pacs-detect`` reads (never on its command line)."""
    environment = dict(os.environ)
    username = settings.MONAI_LABEL_DATASTORE_USERNAME or settings.MONAI_LABEL_DICOMWEB_USERNAME
    password = settings.MONAI_LABEL_DATASTORE_PASSWORD or settings.MONAI_LABEL_DICOMWEB_PASSWORD
    if username and password:
        environment.update(MAMMO_SSL_DICOMWEB_USERNAME=username, MAMMO_SSL_DICOMWEB_PASSWORD=password)
    return environment


def mammography_dicomweb_datastore(url: str) -> DICOMWebDatastore:
    """MONAI Label's DICOMweb datastore on ``url``: MG series only, kept as DICOM (no NIfTI conversion), and
    without the dcmqi download of MONAI Label's own set-up (no internet needed: this app stores no SEG)."""
    from dicomweb_client.session_utils import create_session_from_user_pass

    username = settings.MONAI_LABEL_DATASTORE_USERNAME or settings.MONAI_LABEL_DICOMWEB_USERNAME
    password = settings.MONAI_LABEL_DATASTORE_PASSWORD or settings.MONAI_LABEL_DICOMWEB_PASSWORD
    session = create_session_from_user_pass(username, password) if username and password else None
    client = DICOMwebClientX(url=url, session=session, qido_url_prefix=settings.MONAI_LABEL_QIDO_PREFIX,
                             wado_url_prefix=settings.MONAI_LABEL_WADO_PREFIX,
                             stow_url_prefix=settings.MONAI_LABEL_STOW_PREFIX)
    cache = (settings.MONAI_LABEL_DATASTORE_CACHE_PATH or settings.MONAI_LABEL_DICOMWEB_CACHE_PATH or "").strip()
    return DICOMWebDatastore(client=client, search_filter={"Modality": "MG"}, cache_path=cache or None,
                             fetch_by_frame=False, convert_to_nifti=False)


def _entry_of(summary: dict, image: Path) -> tuple[dict, str]:
    """The view and side of a ``detection.json`` that hold ``image``."""
    for view in summary["views"]:
        for side, entry in view["images"].items():
            if view["status"] == "ok" and Path(entry["path"]).resolve() == image.resolve():
                return view, side
    raise LookupError(f"{image.name}: no heatmap was computed for it")


class ExportedBundleHeatmap(BundleInferTask):
    """MONAI Label's bundle task on an exported bundle's ``inference.json``; labels written as NIfTI (by default
    MONAI Label would write them in the image's own format, DICOM included)."""

    def __init__(self, bundle: Path, conf: dict):
        super().__init__(str(bundle), conf, type=InferType.OTHERS)
        self.labels = {"asymmetry": 1}  # a heatmap, not a label map: the name the viewer shows
        self.description = ("Lesion heatmap from the contralateral Siamese encoder (values in [0, 1]) and ranked "
                            "candidate regions; needs the other breast of the same view and exam")

    def __call__(self, request, callbacks=None):
        try:
            return super().__call__({"result_extension": ".nii.gz", **request}, callbacks)
        except Exception as error:
            cause = _root_cause(error)
            # a missing other breast, an unreadable file: the viewer gets the bundle's one-line message
            if isinstance(cause, (LookupError, OSError)) or type(cause).__name__ == "MammogramReadError":
                raise HTTPException(status_code=422, detail=f"error: {cause}") from error
            raise


def _root_cause(error: BaseException) -> BaseException:
    """The error a MONAI ``Compose`` wrapped (it re-raises a transform's error as a ``RuntimeError``)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


class MammoAsymmetryApp(MONAILabelApp):
    """Serves the model ``asymmetry_heatmap``: :class:`PacsAsymmetryHeatmap` when ``studies`` is a DICOMweb URL,
    else :class:`ExportedBundleHeatmap` for an exported bundle and :class:`AsymmetryHeatmap` for the source one."""

    def __init__(self, app_dir, studies, conf):
        self.bundle = Path(conf.get("bundle", DEFAULT_BUNDLE))
        self.python = conf.get("python", getattr(sys, "_base_executable", sys.executable))
        self.patch = str(conf.get("patch", "96"))
        self.pacs = studies.rstrip("/") if studies.startswith(("http://", "https://")) else None
        super().__init__(app_dir=app_dir, studies=studies, conf=conf, name="mammo-asymmetry",
                         description="Per-image asymmetry heatmaps of screening mammograms", version="0.5.0")

    def init_datastore(self):
        if self.pacs is not None:
            return mammography_dicomweb_datastore(self.pacs)
        return LocalDatastore(self.studies, extensions=IMAGE_PATTERNS, auto_reload=True)

    def init_infers(self):
        if not all((self.bundle / "models" / name).is_file() for name in ("model.pt", "detector.json")):
            raise FileNotFoundError(f"{self.bundle / 'models'}: needs model.pt and detector.json; run the README's "
                                    "training command first (it writes both)")
        if self.pacs is not None:
            # the project's own environment writes the SR (highdicom needs pydicom 3, this one has pydicom 2)
            return {"asymmetry_heatmap": PacsAsymmetryHeatmap(self.pacs, self.bundle, self.python, self.patch)}
        if (self.bundle / "scripts" / "custom").is_dir():
            return {"asymmetry_heatmap": ExportedBundleHeatmap(self.bundle, self.conf)}
        return {"asymmetry_heatmap": AsymmetryHeatmap(self.bundle, self.python, self.patch)}
