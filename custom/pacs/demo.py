"""``python -m custom pacs-demo``: from nothing to a radiologist's viewer showing candidate boxes.

1. starts Orthanc on 127.0.0.1 with temporary storage and its DICOM port closed (``custom.pacs.orthanc``);
2. serves OHIF's static build (from the monailabel 0.8.5 wheel, downloaded once) and Orthanc's DICOMweb under
   one origin (``custom.pacs.front``);
3. writes a synthetic screening study (one with an annotated finding) and uploads it by STOW-RS;
4. runs ``pacs-detect`` on it with the bundle (the repository's trained one when it has its weights and
   detector calibration, else an untrained copy made in seconds, ``custom.pacs.untrained``, and said so);
5. prints the viewer's address and keeps serving until Ctrl-C; then everything is stopped and deleted.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from custom.bundle_location import DEFAULT_BUNDLE
from custom.pacs.connection import Pacs
from custom.pacs.detect import PacsDetector, RunResult
from custom.pacs.errors import PacsError
from custom.pacs.front import ViewerFront
from custom.pacs.ohif import ohif_build
from custom.pacs.orthanc import TemporaryOrthanc
from custom.pacs.untrained import untrained_bundle
from custom.pacs.upload import synthetic_studies, upload_files

DEMO_SEED = 7
CANDIDATES_PER_IMAGE = 3  # the viewer stays readable


class Demo:
    """The running demo (a context manager): ``orthanc``, ``front``, ``study`` (its StudyInstanceUID),
    ``result`` (what ``pacs-detect`` stored), ``finding`` (the synthetic study's annotation), ``viewer_url``."""

    def __init__(self, port: int = 0, bundle: str | Path | None = None, ohif: str | Path | None = None,
                 seed: int = DEMO_SEED, preset: str = "default"):
        self.port, self.bundle, self.ohif, self.seed, self.preset = port, bundle, ohif, seed, preset
        self.untrained = False
        self.orthanc: TemporaryOrthanc | None = None
        self.front: ViewerFront | None = None
        self.study: str | None = None
        self.result: RunResult | None = None
        self.detector: PacsDetector | None = None
        self.finding: dict | None = None
        self._scratch: Path | None = None

    def start(self) -> Demo:
        self._scratch = Path(tempfile.mkdtemp(prefix="mammo-pacs-demo-"))
        try:
            ohif = ohif_build(self.ohif)
            self.orthanc = TemporaryOrthanc().start()
            try:
                self.front = ViewerFront(ohif, self.orthanc.url, port=self.port).start()
            except OSError as error:
                raise PacsError(f"cannot serve the viewer on 127.0.0.1:{self.port} ({error.strerror}): "
                                "choose another --port") from None
            pacs = Pacs(self.orthanc.dicomweb)
            self.study, self.finding = self._upload_study(pacs)
            self.detector = PacsDetector(pacs, self._bundle(), top=CANDIDATES_PER_IMAGE)
            self.result = self.detector(self.study)
        except BaseException:
            self.stop()
            raise
        return self

    def _bundle(self) -> Path:
        if self.bundle is not None:
            return Path(self.bundle)
        source = Path(DEFAULT_BUNDLE)
        if all((source / "models" / name).is_file() for name in ("model.pt", "detector.json")):
            return source
        self.untrained = True
        return untrained_bundle(self._scratch / "bundle", source)

    def _upload_study(self, pacs: Pacs) -> tuple[str, dict | None]:
        """The first synthetic study with an annotated finding, on the PACS; returns its UID and the finding."""
        data = self._scratch / "synthetic"
        studies = synthetic_studies(data, studies=4, seed=self.seed, preset=self.preset)
        findings = pd.read_csv(data / "finding_annotations.csv")
        findings = findings[findings.finding_categories != "['No Finding']"]
        folder_of = {uid: files[0].parent.name for uid, files in studies.items()}
        chosen = next((uid for uid in studies if folder_of[uid] in set(findings.study_id)), next(iter(studies)))
        upload_files(pacs, studies[chosen])
        rows = findings[findings.study_id == folder_of[chosen]]
        finding = rows.iloc[0].to_dict() if len(rows) else None
        return chosen, finding

    @property
    def viewer_url(self) -> str:
        return self.front.viewer_url(self.study)

    def stop(self) -> None:
        if self.front is not None:
            self.front.stop()
            self.front = None
        if self.orthanc is not None:
            self.orthanc.stop()
            self.orthanc = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> Demo:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_demo(port: int = 8080, bundle: str | None = None, ohif: str | None = None,
             seconds: float | None = None) -> None:
    """Starts the demo, prints where to look, serves until Ctrl-C (or for ``seconds``), then cleans up."""
    from custom.pacs.cli import print_result, quiet_libraries

    quiet_libraries()
    with Demo(port=port, bundle=bundle, ohif=ohif) as demo:
        print_result(demo.result, demo.detector)
        if demo.untrained:
            print("note: the repository's bundle has no trained weights yet (models/model.pt and detector.json, "
                  "written by the README's training command): this demo runs an UNTRAINED encoder. Its boxes show "
                  "the chain working, not lesions.")
        if demo.finding is not None:
            where = ", ".join(f"{demo.finding[key]:.0f}" for key in ("xmin", "ymin", "xmax", "ymax"))
            print(f"the synthetic study's annotated finding: {demo.finding['finding_categories']} in the "
                  f"{demo.finding['laterality']} {demo.finding['view_position']} image, box [{where}] px")
        print(f"\nOHIF (Orthanc's DICOMweb on the same origin): {demo.viewer_url}\n"
              "In the viewer, double-click the series '... run 1: candidates' (SR) for the boxes and scores, or "
              "'... run 1: heatmap' for the colour overlays.", flush=True)
        try:
            started = time.monotonic()
            while seconds is None or time.monotonic() - started < seconds:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    print("stopped; the temporary PACS and its storage are deleted")
