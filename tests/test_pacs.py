"""``pacs-detect`` against a real PACS: Orthanc with its DICOMweb plugin (Debian's ``orthanc`` and
``orthanc-dicomweb``, which ``.ci/run`` installs), and a small HTTP server in front of it for a bearer token
and for a server failing halfway.

Each test puts a study of its own (a synthetic screening exam under new UIDs) on one Orthanc and checks what
the PACS holds afterwards: the results a run must add, or, for bad input, that nothing was added.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from custom.mammography.detection.cli import detect_study
from custom.mammography.detection.exams import ImageInput
from custom.pacs.connection import PASSWORD_VARIABLE, TOKEN_VARIABLE, USERNAME_VARIABLE, Pacs
from custom.pacs.detect import PacsDetector
from custom.pacs.errors import PacsError
from custom.pacs.orthanc import TemporaryOrthanc, free_port
from custom.pacs.untrained import untrained_bundle
from custom.pacs.upload import upload_files
from custom.pacs.watch import watch
from tests.pacs_fixtures import FaultyProxy, orthanc_counts, study_copy

REPO = Path(__file__).resolve().parents[1]
# the bundle's version, which every result series names
VERSION = json.loads((REPO / "bundles" / "mammo_siamese_softlabel" / "configs" / "metadata.json").read_text())["version"]
pytestmark = pytest.mark.skipif(shutil.which("Orthanc") is None,
                                reason="needs Orthanc: apt-get install orthanc orthanc-dicomweb (.ci/run does)")
SECRET = "s3cret-Passw0rd-never-logged"


@pytest.fixture(scope="module")
def orthanc():
    with TemporaryOrthanc() as pacs:
        yield pacs


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return untrained_bundle(tmp_path_factory.mktemp("bundle"), REPO / "bundles" / "mammo_siamese_softlabel")


@pytest.fixture(scope="module")
def exam_files(synthetic_vindr) -> list[Path]:
    """The four images of the first synthetic study with a finding (test preset, 320 x 256 px)."""
    import pandas as pd

    findings = pd.read_csv(synthetic_vindr / "finding_annotations.csv")
    study = sorted(findings.loc[findings.finding_categories != "['No Finding']", "study_id"])[0]
    files = sorted((synthetic_vindr / "images" / study).glob("*.dicom"))
    assert len(files) == 4
    return files


@pytest.fixture(scope="module")
def detector(orthanc, bundle) -> PacsDetector:
    return PacsDetector(Pacs(orthanc.dicomweb), bundle)


def _upload(orthanc, files, folder, change=None) -> tuple[str, list[Path]]:
    study, copies = study_copy(files, folder, change)
    upload_files(Pacs(orthanc.dicomweb), copies)
    return study, copies


def _series(orthanc, study: str) -> list[pydicom.Dataset]:
    return Pacs(orthanc.dicomweb).series_of(study)


def test_a_study_gets_its_sr_and_overlays_and_its_images_stay_as_they_were(
        orthanc, bundle, detector, exam_files, tmp_path):
    study, copies = _upload(orthanc, exam_files, tmp_path / "study")
    pacs = Pacs(orthanc.dicomweb)
    originals = {}
    for item in _series(orthanc, study):
        for header in pacs.series_metadata(study, item.SeriesInstanceUID):
            originals[header.SOPInstanceUID] = pacs.instance_bytes(study, item.SeriesInstanceUID, header.SOPInstanceUID)

    result = detector(study)

    assert result.run == 1 and len(result.stored) == 5  # one SR, four overlays
    series = {str(item.get("SeriesDescription")): item for item in _series(orthanc, study)}
    name = bundle.name
    sr_series, overlay_series = series[f"{name} {VERSION} run 1: candidates"], series[f"{name} {VERSION} run 1: heatmap"]
    assert (sr_series.Modality, overlay_series.Modality) == ("SR", "OT")
    # the sources: the same four instances, byte for byte
    mg = [item for item in _series(orthanc, study) if item.Modality == "MG"]
    assert len(mg) == 4
    for item in mg:
        for header in pacs.series_metadata(study, item.SeriesInstanceUID):
            now = pacs.instance_bytes(study, item.SeriesInstanceUID, header.SOPInstanceUID)
            assert now == originals[header.SOPInstanceUID]

    # the SR: one planar ROI group per candidate, its box on its own source image, score and rank
    (sr_header,) = pacs.series_metadata(study, sr_series.SeriesInstanceUID)
    sr_bytes = pacs.instance_bytes(study, sr_series.SeriesInstanceUID, sr_header.SOPInstanceUID)
    sr = pydicom.dcmread(_as_file(sr_bytes, tmp_path))
    report = hd.sr.ComprehensiveSR.from_dataset(sr)
    groups = report.content.get_planar_roi_measurement_groups()
    expected = [(sop, candidate) for sop, found in result.candidates.items() for candidate in found]
    assert len(groups) == len(expected) > 0
    by_source = {str(header.SOPInstanceUID): header for header in _mg_headers(pacs, study)}
    sop_by_path = {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID): path for path in copies}
    for group, (sop, candidate) in zip(groups, expected):
        region = group.roi
        assert region.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
        assert region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == sop
        xmin, ymin, xmax, ymax = candidate["box"]
        np.testing.assert_allclose(region.value, [[xmin, ymin], [xmax, ymin], [xmax, ymax], [xmin, ymax], [xmin, ymin]],
                                   atol=1e-3)
        values = {item.name.meaning: item.value for item in group.get_measurements()}
        assert values["Suspicion score"] == pytest.approx(100 * candidate["score"], abs=0.01)
        assert values["Rank in image"] == candidate["rank"]
        assert sop in by_source
    assert str(sr.SeriesDescription) == f"{name} {VERSION} run 1: candidates" and sr.StudyInstanceUID == study

    # the same candidates as the command line's heatmap on the same files
    inputs = [ImageInput(path) for path in sop_by_path.values()]
    run = detect_study(bundle, inputs, "exam", tmp_path / "cli")
    cli = json.loads(run.summary.read_text())
    for view in cli["views"]:
        for entry in view["images"].values():
            sop = str(pydicom.dcmread(entry["path"], stop_before_pixels=True).SOPInstanceUID)
            ours = result.candidates[sop]
            np.testing.assert_allclose([c["box"] for c in entry["candidates"]], [c["box"] for c in ours], atol=1e-6)
            np.testing.assert_allclose([c["score"] for c in entry["candidates"]], [c["score"] for c in ours], atol=1e-6)

    # the overlays: RGB, one per source, each referencing it, in the source's laterality
    headers = pacs.series_metadata(study, overlay_series.SeriesInstanceUID)
    assert len(headers) == 4
    for header in headers:
        source = header.SourceImageSequence[0].ReferencedSOPInstanceUID
        assert source in by_source
        assert header.ImageLaterality == _laterality(by_source[source])
        assert header.SamplesPerPixel == 3 and "DERIVED" in header.ImageType
        overlay = pydicom.dcmread(_as_file(pacs.instance_bytes(study, overlay_series.SeriesInstanceUID,
                                                               header.SOPInstanceUID), tmp_path))
        pixels = overlay.pixel_array
        source_header = by_source[source]
        assert pixels.shape == (source_header.Rows, source_header.Columns, 3)  # 320 x 256: not shrunk
        assert pixels.std() > 5  # an image, not a blank


def _as_file(data: bytes, folder: Path) -> Path:
    path = folder / f"retrieved_{len(list(folder.glob('retrieved_*')))}.dcm"
    path.write_bytes(data)
    return path


def _mg_headers(pacs: Pacs, study: str) -> list[pydicom.Dataset]:
    return [header for item in pacs.series_of(study) if item.Modality == "MG"
            for header in pacs.series_metadata(study, item.SeriesInstanceUID)]


def _laterality(header: pydicom.Dataset) -> str:
    return str(header.get("ImageLaterality") or header.get("Laterality"))


def test_a_second_run_is_numbered_and_skip_stores_nothing(orthanc, bundle, detector, exam_files, tmp_path):
    study, _ = _upload(orthanc, exam_files, tmp_path / "study")
    first = detector(study)
    second = detector(study)
    assert (first.run, second.run, second.earlier_runs) == (1, 2, [1])
    descriptions = sorted(str(item.get("SeriesDescription")) for item in _series(orthanc, study)
                          if item.Modality != "MG")
    assert descriptions == sorted(f"{bundle.name} {VERSION} run {run}: {kind}" for run in (1, 2)
                                  for kind in ("candidates", "heatmap"))
    numbers = sorted(int(item.SeriesNumber) for item in _series(orthanc, study) if item.Modality != "MG")
    assert numbers == [9001, 9002, 9501, 9502]
    before = orthanc_counts(orthanc.url)
    skipped = detector(study, if_done="skip")
    assert skipped.run is None and skipped.stored == [] and skipped.earlier_runs == [1, 2]
    assert orthanc_counts(orthanc.url) == before


# ---- bad input: a clear error, and nothing written ----

def _refused(orthanc, detector, study, match) -> None:
    before = orthanc_counts(orthanc.url)
    with pytest.raises(PacsError, match=match) as error:
        detector(study)
    assert "nothing was written to the PACS" in str(error.value)
    assert orthanc_counts(orthanc.url) == before


def test_a_study_that_is_not_there(orthanc, detector):
    _refused(orthanc, detector, "1.2.3.4.5.6.7", r"study 1\.2\.3\.4\.5\.6\.7 is not on the PACS")


def test_one_breast_only(orthanc, detector, exam_files, tmp_path):
    study, _ = _upload(orthanc, exam_files, tmp_path / "s", lambda ds: ds if _laterality(ds) == "L" else None)
    _refused(orthanc, detector, study, r"it shows the left breast only \(has L CC, L MLO\)")


def test_only_two_views(orthanc, detector, exam_files, tmp_path):
    study, _ = _upload(orthanc, exam_files, tmp_path / "s", lambda ds: ds if _view(ds) == "CC" else None)
    _refused(orthanc, detector, study, r"it holds CC views only \(has L CC, R CC\)")


def _view(ds: pydicom.Dataset) -> str:
    return "CC" if ds.ViewCodeSequence[0].CodeValue == "399162004" else "MLO"


def test_a_series_of_another_modality(orthanc, detector, exam_files, tmp_path):
    study, _ = _upload(orthanc, exam_files, tmp_path / "s")

    def as_ultrasound(ds):
        ds.Modality, ds.SeriesDescription, ds.SeriesNumber = "US", "breast ultrasound", 7
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
        ds.StudyInstanceUID = study
        return ds

    # one more series in the same study: an ultrasound image
    _, extra = study_copy(exam_files[:1], tmp_path / "us", as_ultrasound)
    upload_files(Pacs(orthanc.dicomweb), extra)
    _refused(orthanc, detector, study, r"holds a US series \(series 7 'breast ultrasound'.*whose images are all MG")


def test_an_image_without_laterality(orthanc, detector, exam_files, tmp_path):
    target = pydicom.dcmread(exam_files[0], stop_before_pixels=True)

    def without_laterality(ds):
        if ds.InstanceNumber == target.InstanceNumber:
            for keyword in ("ImageLaterality", "Laterality", "PatientOrientation"):
                if keyword in ds:
                    delattr(ds, keyword)
        return ds

    study, copies = _upload(orthanc, exam_files, tmp_path / "s", without_laterality)
    _refused(orthanc, detector, study, r"image [\d.]+ of series \d+ .*: laterality not found in tags ImageLaterality")


def test_an_image_that_cannot_be_decoded(orthanc, detector, exam_files, tmp_path):
    def truncated(ds):
        if ds.InstanceNumber == 1:
            ds.Rows = ds.Rows * 2  # the header promises twice the pixels the file holds
        return ds

    study, _ = _upload(orthanc, exam_files, tmp_path / "s", truncated)
    _refused(orthanc, detector, study, r"image [\d.]+ \([LR] (CC|MLO)\): ")


def test_a_pacs_that_is_not_reachable(bundle):
    port = free_port()  # nothing listens there
    detector = PacsDetector(Pacs(f"http://127.0.0.1:{port}/dicom-web"), bundle)
    expected = rf"cannot reach the PACS at http://127.0.0.1:{port}/dicom-web .*refused"
    with pytest.raises(PacsError, match=expected) as error:
        detector("1.2.3")
    assert "nothing was written" in str(error.value)


def test_a_server_failing_halfway_writes_nothing(orthanc, bundle, exam_files, tmp_path):
    study, _ = _upload(orthanc, exam_files, tmp_path / "s")
    # QIDO series + 4 series' headers + 1 image retrieval pass; the other retrievals, running at once, fail
    proxy = FaultyProxy(orthanc.url, fail_after=6)
    try:
        detector = PacsDetector(Pacs(f"{proxy.url}/dicom-web"), bundle)
        _refused(orthanc, detector, study, r"failed \(HTTP 500\) while retrieving instance .*the disk is full")
        assert [method for method, _ in proxy.requests].count("POST") == 0
        assert any("/instances/" in path for _, path in proxy.requests[:6])  # it did fail halfway, during retrieval
    finally:
        proxy.close()


# ---- credentials ----

@pytest.fixture(scope="module")
def orthanc_with_users():
    with TemporaryOrthanc(users={"radiology": SECRET}) as pacs:
        yield pacs


def _cli(url: str, study: str, bundle: Path, env: dict) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items()
                   if key not in (USERNAME_VARIABLE, PASSWORD_VARIABLE, TOKEN_VARIABLE)}
    return subprocess.run([sys.executable, "-m", "custom", "pacs-detect", "--dicomweb", url, "--study", study,
                           "--bundle", str(bundle)], capture_output=True, text=True, env={**environment, **env},
                          timeout=600, cwd=REPO)


def test_basic_auth_from_the_environment_and_never_logged(orthanc_with_users, bundle, exam_files, tmp_path):
    study, copies = study_copy(exam_files, tmp_path / "s")
    upload_files(Pacs(orthanc_with_users.dicomweb, auth=("radiology", SECRET)), copies)
    auth = ("radiology", SECRET)
    before = orthanc_counts(orthanc_with_users.url, auth)

    wrong = _cli(orthanc_with_users.dicomweb, study, bundle,
                 {USERNAME_VARIABLE: "radiology", PASSWORD_VARIABLE: SECRET[:-1] + "X"})
    assert wrong.returncode == 2
    assert "refused access (HTTP 401)" in wrong.stderr and "the credentials given were refused" in wrong.stderr
    assert "nothing was written to the PACS" in wrong.stderr
    with pytest.raises(PacsError, match=f"no credentials were given: set {USERNAME_VARIABLE}"):
        PacsDetector(Pacs(orthanc_with_users.dicomweb), bundle)(study)
    assert orthanc_counts(orthanc_with_users.url, auth) == before

    right = _cli(orthanc_with_users.dicomweb, study, bundle,
                 {USERNAME_VARIABLE: "radiology", PASSWORD_VARIABLE: SECRET})
    assert right.returncode == 0, right.stderr[-2000:]
    assert "stored in" in right.stdout and "run 1: candidates" in right.stdout
    assert orthanc_counts(orthanc_with_users.url, auth)["CountInstances"] == before["CountInstances"] + 5
    for done in (wrong, right):
        assert SECRET not in done.stdout + done.stderr
        assert SECRET[:-1] not in done.stdout + done.stderr


def test_bearer_token_from_the_environment_and_never_logged(orthanc, bundle, exam_files, tmp_path):
    study, _ = _upload(orthanc, exam_files, tmp_path / "s")
    token = "eyJhbGciOi.bearer-token-never-logged"
    proxy = FaultyProxy(orthanc.url, token=token)
    try:
        refused = _cli(f"{proxy.url}/dicom-web", study, bundle, {TOKEN_VARIABLE: token + "-wrong"})
        assert refused.returncode == 2 and "refused access (HTTP 401)" in refused.stderr
        accepted = _cli(f"{proxy.url}/dicom-web", study, bundle, {TOKEN_VARIABLE: token})
        assert accepted.returncode == 0, accepted.stderr[-2000:]
        assert "run 1: candidates" in accepted.stdout
        for done in (refused, accepted):
            assert token not in done.stdout + done.stderr
    finally:
        proxy.close()


def test_credentials_in_the_url_are_refused():
    with pytest.raises(PacsError, match="the DICOMweb URL holds credentials") as error:
        Pacs("http://radiology:secret@127.0.0.1:8042/dicom-web")
    assert "secret" not in str(error.value)


# ---- watching for new studies ----

def test_watch_runs_each_new_complete_study_once(orthanc, detector, exam_files, tmp_path, capsys):
    study, _ = _upload(orthanc, exam_files, tmp_path / "s")
    date = int(pydicom.dcmread(exam_files[0], stop_before_pixels=True).StudyDate)  # as the command line hands it
    seen = []
    watch(detector, since=date, interval=0.05, polls=3, report=lambda result, _: seen.append(result))
    ours = [result for result in seen if result.study_uid == study]
    assert len(ours) == 1 and ours[0].run == 1
    seen.clear()
    watch(detector, since=date, interval=0.05, polls=3, report=lambda result, _: seen.append(result))
    assert all(result.run is None for result in seen)  # done before: nothing stored again (restart-safe)
    assert sum(1 for item in _series(orthanc, study) if item.Modality == "SR") == 1


# ---- CBIS-DDSM-like exams: no PixelSpacing, laterality in Laterality, a bare view in PatientOrientation ----

def _cbis_study(folder: Path, spacing: float | None) -> list[Path]:
    """One CBIS-DDSM patient's four images as TCIA gives them (each its own StudyInstanceUID and PatientID such
    as Mass-Training_P_00001_LEFT_CC), grouped into one study as a PACS holds an exam once imported."""
    from tests.archive_fixtures import write_cbis_image

    views = [("L", "CC"), ("R", "CC"), ("L", "MLO"), ("R", "MLO")]
    files = [write_cbis_image(folder, "P_00001", side, view, seed=seed, with_roi=False)
             for seed, (side, view) in enumerate(views)]

    def grouped(ds):
        assert "PixelSpacing" not in ds and "ImageLaterality" not in ds and str(ds.PatientOrientation) in ("CC", "MLO")
        if spacing is not None:
            ds.PixelSpacing = [spacing, spacing]
        return ds

    return study_copy(files, folder / "grouped", grouped)[1]


@pytest.mark.parametrize("spacing", [0.25, None], ids=["with spacing", "without spacing"])
def test_cbis_like_exam_gets_an_sr(orthanc, bundle, tmp_path, spacing):
    """With a spacing in the files, as they come; without, through the bundle's own option (the reader's
    assumed spacing for CBIS-DDSM, issue 26, will make the option unnecessary)."""
    files = _cbis_study(tmp_path, spacing)
    upload_files(Pacs(orthanc.dicomweb), files)
    study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    detector = PacsDetector(Pacs(orthanc.dicomweb), bundle,
                            assumed_pixel_spacing=None if spacing else 0.25)
    result = detector(study)
    assert result.run == 1 and len(result.stored) == 5
    assert set(result.view_scores) == {"CC", "MLO"}
    kinds = sorted((str(item.Modality), str(item.get("SeriesDescription", ""))) for item in _series(orthanc, study))
    assert [kind for kind, _ in kinds] == ["MG", "MG", "MG", "MG", "OT", "SR"], kinds
