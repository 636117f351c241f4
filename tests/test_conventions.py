"""Real archive conventions (CBIS-DDSM from TCIA, INbreast, VinDr-Mammo) through read_mammogram, the manifest,
the exam cache and ``heatmap``, on files written the way those archives write them (tests/archive_fixtures.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from custom.mammography.data import (
    MammoDataSource, MammogramReadError, SkipReport, build_manifest, prepare_exams, read_mammogram,
)
from tests.archive_fixtures import (
    cbis_patient_id, retag, run_cli, tiny_bundle, write_cbis_archive, write_inbreast_image, write_vindr_image,
)
from tests.dicom_factory import write_mammogram_dicom
from tests.layout_fixtures import tree_digest

EXAM = [("L", "CC"), ("R", "CC"), ("L", "MLO"), ("R", "MLO")]


def heatmap_views(out: Path) -> dict[str, dict]:
    (summary,) = out.glob("*/detection.json")
    return {view["view"]: view for view in json.loads(summary.read_text())["views"]}


# ---- CBIS-DDSM ----


@pytest.fixture(scope="module")
def cbis(tmp_path_factory) -> tuple[Path, list[Path], Path]:
    """One CBIS-DDSM patient's four images as downloaded, its case CSVs, and a bundle calibrated on them."""
    root = tmp_path_factory.mktemp("cbis")
    written = write_cbis_archive(root, {"P_00001": EXAM})
    images = [written["P_00001", side, view] for side, view in EXAM]
    bundle = tiny_bundle(tmp_path_factory.mktemp("bundle"), [images], downsample=2)
    return root, images, bundle


def test_cbis_image_names_its_breast_and_view_wherever_it_was_copied(cbis, tmp_path):
    _, images, _ = cbis
    for path, (side, view) in zip(images, EXAM):
        copied = tmp_path / path.parent.name / "1-132.dcm"  # a name that says nothing, outside its folders
        copied.parent.mkdir()
        shutil.copy(path, copied)
        for candidate in (path, copied):
            meta = read_mammogram(candidate, downsample=4)[1]
            assert (meta["laterality"], meta["view"], meta["patient_id"]) == (side, view, "P_00001")


def test_cbis_roi_masks_and_crops_are_not_taken_for_mammograms(cbis):
    root, _, _ = cbis
    others = sorted((root / "CBIS-DDSM").glob("*_1/*/*/1-1.dcm"))
    assert len(others) == 8
    for path in others:
        with pytest.raises(MammogramReadError, match="holds lesion masks or crops") as error:
            read_mammogram(path)
        assert error.value.path == str(path)


def test_cbis_contradicting_sources_name_each_other(cbis, tmp_path):
    _, images, _ = cbis
    wrong = retag(Path(shutil.copy(images[0], tmp_path / "1-1.dcm")), Laterality="R")
    with pytest.raises(MammogramReadError, match="contradictory laterality: R from Laterality, L from PatientID"):
        read_mammogram(wrong)


def test_cbis_manifest_pairs_by_patient_not_by_study_uid(cbis, tmp_path, capsys):
    root, images, _ = cbis
    before = tree_digest(root)
    report = SkipReport()
    manifest = build_manifest("cbis", root, report=report)
    assert len(report) == 0 and sorted(manifest["path"]) == sorted(map(str, images))
    assert set(zip(manifest["laterality"], manifest["view"])) == set(EXAM)
    assert set(manifest["study_id"]) == {"P_00001"}
    exams = prepare_exams(manifest, tmp_path / "cache", spacing=0.5, downsample=2, report=report, progress=False)
    assert sorted(exam.view for exam in exams) == ["CC", "MLO"] and len(report) == 0
    # the bundle's data source: CBIS files state no pixel spacing; read at the DDSM digitisers' unless the user
    # says what to assume
    default = MammoDataSource(str(root), "cbis", cache_dir=str(tmp_path / "bundle_cache"))
    assert sorted(exam.view for exam in default.exams) == ["CC", "MLO"] and len(default.report) == 0
    assert {side["assumed_pixel_spacing"] for exam in default.exams for side in exam.geometry.values()} == {0.0435}
    assumed = MammoDataSource(str(root), "cbis", cache_dir=str(tmp_path / "bundle_cache"), assumed_pixel_spacing=0.25)
    assert sorted(exam.view for exam in assumed.exams) == ["CC", "MLO"] and len(assumed.report) == 0
    assert {side["scale"] for exam in assumed.exams for side in exam.geometry.values()} == {0.5}  # 0.25 mm to 0.5
    code, out, err = run_cli(capsys, "manifest", "--format", "cbis", "--root", str(root), "--out",
                             str(tmp_path / "m.csv"), "--check", "--workers", "2")
    assert code == 0, err
    assert "no input skipped" in out and len(pd.read_csv(tmp_path / "m.csv")) == 4
    assert tree_digest(root) == before


def test_cbis_heatmap_on_a_downloaded_patient_folder(cbis, tmp_path, capsys):
    root, images, bundle = cbis
    out = tmp_path / "out"
    code, printed, err = run_cli(capsys, "heatmap", "--bundle", str(bundle), "--images", *map(str, images),
                                 "--downsample", "2", "--out", str(out))
    assert code == 0, err
    views = heatmap_views(out)
    assert {view: entry["status"] for view, entry in views.items()} == {"CC": "ok", "MLO": "ok"}
    assert {side: Path(image["path"]).parent.parent.parent.name for side, image in views["CC"]["images"].items()} == {
        "L": cbis_patient_id("P_00001", "L", "CC"), "R": cbis_patient_id("P_00001", "R", "CC")}
    # the whole download folder: its ROI masks and crops are reported and left out
    out = tmp_path / "study"
    code, printed, err = run_cli(capsys, "heatmap", "--bundle", str(bundle), "--study", str(root / "CBIS-DDSM"),
                                 "--downsample", "2", "--out", str(out))
    assert code == 0, err
    assert "8 input(s) skipped" in printed and "holds lesion masks or crops" in printed
    assert {entry["status"] for entry in heatmap_views(out).values()} == {"ok"}


# ---- INbreast and VinDr-Mammo ----


def test_inbreast_names_and_vindr_tags_through_manifest_reader_and_heatmap(tmp_path, capsys):
    inbreast = tmp_path / "inbreast"
    files = [write_inbreast_image(inbreast, f"5000{n}", "6c613a14b80a8591", side, view, seed=n)
             for n, (side, view) in enumerate(EXAM)]
    assert files[2].name == "50002_6c613a14b80a8591_MG_L_ML_ANON.dcm"
    table = pd.DataFrame([{"Patient ID": "removed", "Patient age": "", "Laterality": "", "View": "",
                           "Acquisition date": "201001", "File Name": f"5000{n}", "ACR": "2", "Bi-Rads": "1"}
                          for n in range(4)])
    table.to_csv(inbreast / "INbreast.csv", sep=";", index=False)
    manifest = build_manifest("inbreast", inbreast)
    assert set(zip(manifest["laterality"], manifest["view"])) == set(EXAM)
    for path, (side, view) in zip(files, EXAM):
        meta = read_mammogram(path, spacing=0.5)[1]
        assert (meta["laterality"], meta["view"], meta["pixel_spacing"]) == (side, view, 0.07)

    vindr = [write_vindr_image(tmp_path / "vindr", "9a0b1c", f"{n:032x}", side, view, seed=n)
             for n, (side, view) in enumerate(EXAM)]
    bundle = tiny_bundle(tmp_path / "bundle", [vindr])
    for name, images in (("inbreast", files), ("vindr", vindr)):
        code, _, err = run_cli(capsys, "heatmap", "--bundle", str(bundle), "--images", *map(str, images),
                               "--out", str(tmp_path / f"out_{name}"))
        assert code == 0, err
        assert {entry["status"] for entry in heatmap_views(tmp_path / f"out_{name}").values()} == {"ok"}

    wrong = retag(Path(shutil.copy(files[0], tmp_path / files[0].name)), ImageLaterality="R")
    with pytest.raises(MammogramReadError, match="contradictory laterality: R from ImageLaterality, L from INbreast"):
        read_mammogram(wrong)


# ---- files that say nothing: the user names them ----


def test_images_that_say_nothing_are_named_on_the_command_line(cbis, tmp_path, capsys):
    _, _, bundle = cbis
    silent = []
    for n in range(2):  # the CBIS CC pair, rewritten without any tag or telling name
        (tmp_path / f"exam{n}").mkdir()
        image = read_mammogram(cbis[1][n], segment=False, crop=False)[0]
        silent.append(write_mammogram_dicom(tmp_path / f"exam{n}" / "1-1.dcm", image, laterality_in=None, view_in=None,
                                            pixel_spacing=None))
    code, _, err = run_cli(capsys, "heatmap", "--bundle", str(bundle), "--images", *map(str, silent),
                           "--downsample", "2", "--out", str(tmp_path / "unnamed"))
    assert code == 2 and "none of the 2 image(s)" in err
    code, printed, err = run_cli(capsys, "heatmap", "--bundle", str(bundle), "--images", f"L_CC={silent[0]}",
                                 f"R_CC={silent[1]}", "--downsample", "2", "--out", str(tmp_path / "named"))
    assert code == 0, err
    assert heatmap_views(tmp_path / "named")["CC"]["status"] == "ok"
    # a name that contradicts the file's tags: that image is reported and left out, the other one is used; with
    # no view left that has both breasts, no heatmap is made and the command fails
    code, printed, err = run_cli(capsys, "heatmap", "--bundle", str(bundle), "--images", f"R_CC={cbis[1][0]}",
                                 f"R_MLO={cbis[1][3]}", "--downsample", "2", "--out", str(tmp_path / "contradicted"))
    assert code == 2 and "error: no heatmap written" in err
    assert "contradictory laterality: R from given" in printed and "L from Laterality, L from PatientID" in printed
    assert {view: entry["status"] for view, entry in heatmap_views(tmp_path / "contradicted").items()} == {
        "MLO": "single breast"}


def test_generic_csv_laterality_and_view_columns_are_optional_overrides(cbis, tmp_path):
    _, images, _ = cbis
    silent = tmp_path / "silent.dcm"
    write_mammogram_dicom(silent, read_mammogram(images[1], segment=False, crop=False)[0], laterality_in=None,
                          view_in=None)
    rows = [{"patient_id": "P1", "study_id": "S1", "path": str(images[0]), "laterality": "", "view": ""},
            {"patient_id": "P1", "study_id": "S1", "path": str(silent), "laterality": "R", "view": "CC"},
            {"patient_id": "P1", "study_id": "S1", "path": str(images[2]), "laterality": "R", "view": ""}]
    pd.DataFrame(rows).to_csv(tmp_path / "dataset.csv", index=False)
    report = SkipReport()
    manifest = build_manifest("csv", tmp_path, report=report)
    assert sorted(zip(manifest["laterality"], manifest["view"])) == [("L", "CC"), ("R", "CC")]
    ((path, problem),) = report.items
    assert path == str(images[2]) and "contradictory laterality: R from given" in problem
