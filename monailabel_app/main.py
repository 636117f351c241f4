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
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fastapi import HTTPException
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType
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
    """Serves the model ``asymmetry_heatmap``: :class:`ExportedBundleHeatmap` for an exported bundle, else
    :class:`AsymmetryHeatmap`."""

    def __init__(self, app_dir, studies, conf):
        self.bundle = Path(conf.get("bundle", DEFAULT_BUNDLE))
        self.python = conf.get("python", getattr(sys, "_base_executable", sys.executable))
        self.patch = str(conf.get("patch", "96"))
        super().__init__(app_dir=app_dir, studies=studies, conf=conf, name="mammo-asymmetry",
                         description="Per-image asymmetry heatmaps of screening mammograms", version="0.5.0")

    def init_datastore(self):
        return LocalDatastore(self.studies, extensions=IMAGE_PATTERNS, auto_reload=True)

    def init_infers(self):
        if not all((self.bundle / "models" / name).is_file() for name in ("model.pt", "detector.json")):
            raise FileNotFoundError(f"{self.bundle / 'models'}: needs model.pt and detector.json; run the README's "
                                    "training command first (it writes both)")
        if (self.bundle / "scripts" / "custom").is_dir():
            return {"asymmetry_heatmap": ExportedBundleHeatmap(self.bundle, self.conf)}
        return {"asymmetry_heatmap": AsymmetryHeatmap(self.bundle, self.python, self.patch)}
