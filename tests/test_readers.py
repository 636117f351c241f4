"""The layout readers against fixture data sets written in each real layout, with known truth."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.manifest import MANIFEST_COLUMNS, build_manifest, findings_of, read_manifest, write_manifest
from custom.mammography.data.readers.cbis import read_cbis
from custom.mammography.data.readers.generic import read_generic_csv
from custom.mammography.data.readers.inbreast import read_inbreast
from custom.mammography.data.readers.vindr import read_vindr
from custom.skip_report import SkipReport
from tests.layout_fixtures import (
    CBIS_CASES, H, INBREAST_IMAGES, VINDR_STUDIES, W, cbis_case, cbis_folder, edit_csv, grey_image, inbreast_plist,
    make_cbis, make_inbreast, make_vindr, tree_digest, write_dicom,
)


def by_image(df: pd.DataFrame) -> dict[str, pd.Series]:
    return {row["image_id"]: row for _, row in df.iterrows()}


def skipped(report: SkipReport, fragment: str) -> list[tuple[str, str]]:
    return [(path, problem) for path, problem in report.items if fragment in problem]


def assert_patient_disjoint(df: pd.DataFrame) -> None:
    splits_per_patient = df.groupby("patient_id")["split"].nunique()
    assert (splits_per_patient == 1).all(), splits_per_patient[splits_per_patient > 1]
    assert set(df["split"]) <= {"train", "val", "test"}


# ---- VinDr-Mammo ----

def test_vindr_rows_findings_and_mappings(tmp_path):
    root = make_vindr(tmp_path / "vindr")
    report = SkipReport()
    df = read_vindr(root, report=report)
    assert len(report) == 0
    assert list(df.columns) == MANIFEST_COLUMNS and len(df) == 4 * len(VINDR_STUDIES)
    rows = by_image(df)
    row = rows["s1_L_CC"]
    assert row["dataset"] == "vindr" and row["patient_id"] == row["study_id"] == "s1"
    assert (row["laterality"], row["view"], row["split"]) == ("L", "CC", "train")
    assert row["breast_birads"] == 1 and row["breast_density"] == "A"
    assert Path(row["path"]) == (root / "images" / "s1" / "s1_L_CC.dicom").resolve()
    findings = findings_of(row)
    assert [f["category"] for f in findings] == ["Mass", "Suspicious Calcification", "Architectural Distortion"]
    assert findings[0] == {"category": "Mass", "birads": 4, "pathology": "malignant", "box": [5.5, 6.0, 15.0, 20.25]}
    assert all(f["box"] == [1, 2, 3, 4] and f["birads"] == 3 and f["pathology"] == "benign" for f in findings[1:])
    test_row = rows["s4_R_MLO"]
    assert test_row["split"] == "test" and test_row["breast_density"] == "D"
    assert findings_of(test_row) == [
        {"category": "Asymmetry", "birads": None, "pathology": None, "box": [10, 10, 20, 30]}]
    assert sum(len(findings_of(r)) for r in rows.values()) == 4  # 'No Finding' rows add none


def test_vindr_without_pathology_column(tmp_path):
    df = read_vindr(make_vindr(tmp_path, pathology_column=False), report=SkipReport())
    assert {f["pathology"] for _, row in df.iterrows() for f in findings_of(row)} == {None}


def test_vindr_bad_input_is_skipped_and_counted(tmp_path, caplog):
    root = make_vindr(tmp_path)
    missing = root / "images" / "s2" / "s2_R_CC.dicom"
    missing.unlink()

    def bad_breast(table):
        table.loc[table.image_id == "s2_L_CC", "laterality"] = "X"
        table.loc[table.image_id == "s2_L_MLO", "breast_birads"] = "BI-RADS nine"
        table.loc[table.image_id == "s3_L_CC", "view_position"] = "LAT"
        return table

    def bad_findings(table):
        base = table[table.image_id == "s3_R_CC"].iloc[0].to_dict()
        outside = {**base, "finding_categories": "['Mass']", "finding_birads": "BI-RADS 4",
                   "xmin": "100", "ymin": "5", "xmax": "110", "ymax": "9", "pathology": ""}
        partly = {**outside, "image_id": "s3_R_MLO", "xmin": "25", "xmax": "35"}
        broken = {**outside, "image_id": "s3_L_MLO", "finding_categories": "Mass", "xmin": "1", "xmax": "3"}
        unknown = {**outside, "image_id": "nowhere", "xmin": "1", "xmax": "3"}
        return pd.concat([table, pd.DataFrame([outside, partly, broken, unknown])], ignore_index=True)

    edit_csv(root / "breast-level_annotations.csv", bad_breast)
    edit_csv(root / "finding_annotations.csv", bad_findings)
    before = tree_digest(root)
    report = SkipReport()
    with caplog.at_level(logging.WARNING):
        rows = by_image(read_vindr(root, report=report))
    assert tree_digest(root) == before

    assert [p for p, _ in skipped(report, "image file missing")] == [str(missing.resolve())]
    breast_csv, finding_csv = str(root / "breast-level_annotations.csv"), str(root / "finding_annotations.csv")
    unparseable = skipped(report, "unparseable row")
    assert {p for p, _ in unparseable} == {breast_csv, finding_csv} and len(unparseable) == 4
    assert any("unknown laterality 'X'" in m for _, m in unparseable)
    assert any("unparseable BI-RADS" in m for _, m in unparseable)
    assert any("unknown view 'LAT'" in m for _, m in unparseable)
    assert [p for p, _ in skipped(report, "box outside image")] == [finding_csv]
    assert [p for p, _ in skipped(report, "unknown image")] == [finding_csv]
    assert len(report) == 7
    for gone in ("s2_R_CC", "s2_L_CC", "s2_L_MLO", "s3_L_CC", "s3_L_MLO"):
        assert gone not in rows
    assert findings_of(rows["s3_R_CC"]) == []  # its only finding lay outside the image
    assert findings_of(rows["s3_R_MLO"])[0]["box"] == [25.0, 5.0, float(W), 9.0]
    assert "partly outside" in caplog.text


def test_vindr_missing_csv_names_the_file(tmp_path):
    root = make_vindr(tmp_path)
    (root / "finding_annotations.csv").unlink()
    with pytest.raises(MammogramReadError, match="finding_annotations.csv"):
        read_vindr(root, report=SkipReport())


# ---- CBIS-DDSM ----

def test_cbis_boxes_from_masks_and_mappings(tmp_path):
    root = make_cbis(tmp_path / "cbis")
    report = SkipReport()
    df = read_cbis(root, report=report)
    assert len(report) == 0
    keys = {(c["patient"], c["side"][0], c["view"]) for c in CBIS_CASES}
    assert len(df) == len(keys)  # P_00001 left CC: mass and calc rows merge into one image
    rows = {(r["patient_id"], r["laterality"], r["view"]): r for _, r in df.iterrows()}
    merged = rows[("P_00001", "L", "CC")]
    assert merged["image_id"] == cbis_folder(CBIS_CASES[0]) and merged["study_id"] == "P_00001"
    assert merged["split"] == "train" and merged["breast_density"] == "C" and pd.isna(merged["breast_birads"])
    assert Path(merged["path"]).is_file() and Path(merged["path"]).is_absolute()
    assert findings_of(merged) == [
        {"category": "Mass", "birads": 4, "pathology": "malignant", "box": [5, 10, 15, 20]},
        # half-resolution mask in renamed folders, its box scaled back to the image
        {"category": "Calcification", "birads": 3, "pathology": "benign", "box": [2, 4, 6, 8]},
    ]
    swapped = findings_of(rows[("P_00002", "R", "MLO")])
    assert swapped == [{"category": "Mass", "birads": 4, "pathology": "benign", "box": [3, 3, 9, 12]}]
    test_row = rows[("P_00003", "R", "CC")]
    assert test_row["split"] == "test" and test_row["breast_density"] == "A"
    assert findings_of(test_row)[0]["box"] == [20, 30, 30, 40] and findings_of(test_row)[0]["birads"] == 0
    assert rows[("P_00004", "L", "CC")]["split"] == "train" and rows[("P_00004", "L", "MLO")]["split"] == "test"


def test_cbis_patient_in_two_shipped_splits_goes_to_test(tmp_path, caplog):
    root = make_cbis(tmp_path)
    with caplog.at_level(logging.WARNING):
        df = build_manifest("cbis", root, seed=3)
    assert_patient_disjoint(df)
    assert set(df.loc[df.patient_id == "P_00004", "split"]) == {"test"}
    assert set(df.loc[df.patient_id == "P_00003", "split"]) == {"test"}
    assert "P_00004" in caplog.text and "several splits" in caplog.text
    assert set(df.loc[~df.patient_id.isin(["P_00003", "P_00004"]), "split"]) <= {"train", "val"}


def test_cbis_bad_input_is_skipped_and_counted(tmp_path):
    cases = [
        cbis_case("P_00001", "LEFT", "CC", "mass", "Training", (5, 10, 15, 20)),
        cbis_case("P_00002", "RIGHT", "CC", "mass", "Training", (5, 10, 15, 20)),  # image deleted below
        cbis_case("P_00003", "RIGHT", "CC", "mass", "Training", (5, 10, 15, 20)),  # no binary mask
        cbis_case("P_00004", "RIGHT", "XCC", "mass", "Training", (5, 10, 15, 20)),
        cbis_case("P_00005", "LEFT", "CC", "calc", "Test", (5, 10, 15, 20), pathology="MAYBE"),
        cbis_case("P_00006", "LEFT", "CC", "calc", "Test", (5, 10, 15, 20)),
    ]
    root = make_cbis(tmp_path, cases)
    deleted = next((root / cbis_folder(cases[1])).rglob("*.dcm"))
    shutil.rmtree(root / cbis_folder(cases[1]))
    for path in (root / cbis_folder(cases[2], "_1")).rglob("*.dcm"):
        write_dicom(path, grey_image((8, 8), seed=7))
    before = tree_digest(root)
    report = SkipReport()
    df = read_cbis(root, report=report)
    assert tree_digest(root) == before
    assert sorted(df["patient_id"]) == ["P_00001", "P_00006"]
    assert [p for p, _ in skipped(report, "image file missing")] == [str(deleted)]
    (mask_path, problem), = skipped(report, "no usable ROI mask")
    assert cbis_folder(cases[2], "_1") in mask_path and "listed in mass_case_description_train_set.csv" in problem
    unparseable = skipped(report, "unparseable row")
    assert any("unknown view 'XCC'" in m and p.endswith("mass_case_description_train_set.csv") for p, m in unparseable)
    assert any("unknown pathology 'MAYBE'" in m and p.endswith("calc_case_description_test_set.csv")
               for p, m in unparseable)
    assert len(report) == 4


def test_cbis_missing_csv_names_the_file(tmp_path):
    root = make_cbis(tmp_path)
    (root / "calc_case_description_test_set.csv").unlink()
    with pytest.raises(MammogramReadError, match="calc_case_description_test_set.csv"):
        read_cbis(root, report=SkipReport())


# ---- INbreast ----

def test_inbreast_rows_rois_and_mappings(tmp_path):
    root = make_inbreast(tmp_path / "inbreast")
    report = SkipReport()
    rows = by_image(read_inbreast(root, report=report))
    assert len(report) == 0 and len(rows) == len(INBREAST_IMAGES)
    first = rows["1001"]
    assert (first["patient_id"], first["study_id"]) == ("aaaa1111", "aaaa1111_201001")  # "removed" -> file hash
    assert (first["laterality"], first["view"], first["breast_birads"], first["breast_density"]) == ("L", "CC", 4, "B")
    assert pd.isna(first["split"]) and first["dataset"] == "inbreast"
    assert findings_of(first) == [
        {"category": "Mass", "birads": None, "pathology": None, "box": [5, 6, 15, 20.5]},
        {"category": "Calcification", "birads": None, "pathology": None, "box": [3.5, 4.25, 3.5, 4.25]},
    ]
    assert rows["1003"]["view"] == "MLO" and rows["1003"]["breast_birads"] == 4
    assert rows["2001"]["patient_id"] == "bbbb2222" and rows["2001"]["breast_density"] == "D"  # empty id -> hash
    assert findings_of(rows["2002"])[0]["category"] == "Spiculated Region" and rows["2002"]["breast_birads"] == 5
    assert (rows["3001"]["patient_id"], rows["3001"]["study_id"], rows["3001"]["breast_birads"]) == ("p7", "p7", 6)
    assert findings_of(rows["1002"]) == []  # no XML: no findings


def test_inbreast_bad_input_is_skipped_and_counted(tmp_path, caplog):
    root = make_inbreast(tmp_path)
    missing = next((root / "AllDICOMs").glob("1002_*.dcm"))
    missing.unlink()
    (root / "AllXML" / "2002.xml").write_text("<plist><dict><key>Images</key>")
    (root / "AllXML" / "2001.xml").write_bytes(inbreast_plist([("Mass", [(50, 60), (70, 80)]),
                                                               ("Cluster", [(25, 35), (35, 45)])]))

    def bad(table):
        table.loc[table["File Name"] == "1003", "Laterality"] = "B"
        table.loc[table["File Name"] == "1004", "Bi-Rads"] = "7"
        return table

    edit_csv(root / "INbreast.csv", bad, sep=";")
    before = tree_digest(root)
    report = SkipReport()
    with caplog.at_level(logging.WARNING):
        rows = by_image(read_inbreast(root, report=report))
    assert tree_digest(root) == before
    assert set(rows) == {i[0] for i in INBREAST_IMAGES} - {"1002", "2002", "1003", "1004"}
    assert [p for p, _ in skipped(report, "image file missing")] == [str(root.resolve() / "AllDICOMs" / "1002_*.dcm")]
    (xml_path, _), = skipped(report, "unparseable ROI XML")
    assert xml_path == str(root.resolve() / "AllXML" / "2002.xml")
    assert len(skipped(report, "unparseable row")) == 2
    assert [p for p, _ in skipped(report, "box outside image")] == [str(root.resolve() / "AllXML" / "2001.xml")]
    assert findings_of(rows["2001"]) == [{"category": "Cluster", "birads": None, "pathology": None,
                                          "box": [25.0, 35.0, 30.0, 40.0]}]
    assert "partly outside" in caplog.text and len(report) == 5


def test_inbreast_missing_csv_names_the_file(tmp_path):
    root = make_inbreast(tmp_path)
    (root / "INbreast.csv").unlink()
    with pytest.raises(MammogramReadError, match="INbreast.csv"):
        read_inbreast(root, report=SkipReport())


# ---- generic CSV ----

def make_generic(root: Path) -> Path:
    write_dicom(root / "img" / "a_left.dcm", grey_image())
    write_dicom(root / "img" / "a_right.dcm", grey_image(seed=1))
    Image.fromarray(np.zeros((H, W), dtype=np.uint8)).save(root / "b_left.png")
    rows = [
        {"patient_id": "A", "study_id": "A1", "laterality": "L", "view": "CC", "path": "img/a_left.dcm",
         "split": "test", "breast_birads": "4", "breast_density": "C", "finding_category": "Mass",
         "finding_birads": "4", "pathology": "MALIGNANT", "xmin": "1", "ymin": "2", "xmax": "3", "ymax": "4"},
        {"patient_id": "A", "study_id": "A1", "laterality": "L", "view": "CC", "path": "img/a_left.dcm",
         "split": "test", "breast_birads": "4", "breast_density": "C", "finding_category": "Calcification",
         "finding_birads": "", "pathology": "", "xmin": "0", "ymin": "0", "xmax": "50", "ymax": "5"},
        {"patient_id": "A", "study_id": "A1", "image_id": "right-cc", "laterality": "RIGHT", "view": "CC",
         "path": str((root / "img" / "a_right.dcm").resolve()), "split": "test"},
        {"patient_id": "B", "study_id": "B1", "laterality": "L", "view": "MLO", "path": "b_left.png",
         "finding_category": "Mass", "xmin": "10", "ymin": "10", "xmax": "20", "ymax": "20"},
    ]
    pd.DataFrame(rows).fillna("").to_csv(root / "dataset.csv", index=False)
    return root


def test_generic_csv_rows_and_findings(tmp_path):
    root = make_generic(tmp_path)
    report = SkipReport()
    rows = by_image(read_generic_csv(root, report=report))
    assert len(report) == 0 and set(rows) == {"a_left", "right-cc", "b_left"}
    left = rows["a_left"]
    assert left["path"] == str((root / "img" / "a_left.dcm").resolve()) and left["split"] == "test"
    assert (left["breast_birads"], left["breast_density"], left["dataset"]) == (4, "C", "generic")
    assert findings_of(left) == [
        {"category": "Mass", "birads": 4, "pathology": "malignant", "box": [1, 2, 3, 4]},
        {"category": "Calcification", "birads": None, "pathology": None, "box": [0, 0, W, 5]},  # clipped
    ]
    assert rows["right-cc"]["laterality"] == "R" and findings_of(rows["right-cc"]) == []
    assert pd.isna(rows["b_left"]["split"]) and findings_of(rows["b_left"])[0]["box"] == [10, 10, 20, 20]
    from_file = read_generic_csv(root / "dataset.csv", report=SkipReport())
    pd.testing.assert_frame_equal(from_file, read_generic_csv(root, report=SkipReport()))


def test_generic_bad_input_is_skipped_and_counted(tmp_path):
    root = make_generic(tmp_path)
    base = {"patient_id": "C", "study_id": "C1", "laterality": "L", "view": "CC", "path": "img/a_right.dcm"}

    def bad(table):
        extra = [
            {**base, "path": "img/absent.dcm"},
            {**base, "path": "b_left.png", "patient_id": "B", "study_id": "B1", "view": "CC"},  # conflicts
            {**base, "patient_id": "D", "path": "img/a_left.dcm", "split": "holdout"},
            {**base, "patient_id": "A", "study_id": "A1", "laterality": "R", "image_id": "right-cc",
             "split": "test", "finding_category": "Mass", "xmin": "1"},
        ]
        return pd.concat([table, pd.DataFrame(extra)], ignore_index=True).fillna("")

    edit_csv(root / "dataset.csv", bad)
    before = tree_digest(root)
    report = SkipReport()
    rows = by_image(read_generic_csv(root, report=report))
    assert tree_digest(root) == before
    assert set(rows) == set()  # every image got a bad row
    assert [p for p, _ in skipped(report, "image file missing")] == [str((root / "img" / "absent.dcm").resolve())]
    assert len(skipped(report, "conflicting rows")) == 1
    problems = [m for _, m in skipped(report, "unparseable row")]
    assert any("unknown split 'holdout'" in m for m in problems) and any("complete box" in m for m in problems)
    assert all(p == str(root / "dataset.csv") for p, _ in report.items[1:]) and len(report) == 4


# ---- build_manifest over every layout ----

@pytest.mark.parametrize("fmt, make", [("vindr", make_vindr), ("cbis", make_cbis), ("inbreast", make_inbreast),
                                       ("csv", make_generic)])
def test_build_manifest_splits_by_patient(tmp_path, fmt, make):
    root = make(tmp_path / fmt)
    for seed in range(3):
        df = build_manifest(fmt, root, seed=seed, val_fraction=0.2, test_fraction=0.3)
        assert_patient_disjoint(df)
        assert df["findings"].map(lambda text: isinstance(json.loads(text), list)).all()
    write_manifest(df, tmp_path / "manifest.csv")
    pd.testing.assert_frame_equal(read_manifest(tmp_path / "manifest.csv"), df)
    if fmt == "vindr":
        assert set(df.loc[df.study_id == "s4", "split"]) == {"test"}
        assert set(df.loc[df.study_id != "s4", "split"]) <= {"train", "val"}


def test_build_manifest_empty_and_unknown(tmp_path):
    (tmp_path / "dataset.csv").write_text("patient_id,study_id,laterality,view,path\n")
    with pytest.raises(MammogramReadError, match="no images found"):
        build_manifest("csv", tmp_path)
    with pytest.raises(ValueError, match="unknown data-set format"):
        build_manifest("optimam", tmp_path)


def test_generic_nifti_box_needs_height_and_width(tmp_path):
    (tmp_path / "scan.nii.gz").write_bytes(b"not opened: the size comes from the CSV")
    row = {"patient_id": "N", "study_id": "N1", "laterality": "L", "view": "CC", "path": "scan.nii.gz",
           "finding_category": "Mass", "xmin": "1", "ymin": "1", "xmax": "5", "ymax": "90"}
    pd.DataFrame([{**row, "height": "64", "width": "48"}]).to_csv(tmp_path / "sized.csv", index=False)
    pd.DataFrame([row]).to_csv(tmp_path / "unsized.csv", index=False)
    sized = read_generic_csv(tmp_path / "sized.csv", report=SkipReport())
    assert sized.loc[0, "image_id"] == "scan" and findings_of(sized.iloc[0])[0]["box"] == [1, 1, 5, 64]
    report = SkipReport()
    assert read_generic_csv(tmp_path / "unsized.csv", report=report).empty
    (path, problem), = report.items
    assert path == str((tmp_path / "scan.nii.gz").resolve()) and "height and width" in problem


def test_the_registry_names_every_reader_and_no_reader_is_loaded_with_the_manifest():
    import subprocess
    import sys

    from custom.mammography.data.readers.registry import READERS, reader_for

    for layout in READERS:
        assert callable(reader_for(layout)), layout
    with pytest.raises(ValueError, match=r"unknown data-set format 'dicomdir'; expected one of \['cbis', 'csv'"):
        reader_for("dicomdir")
    code = ("import sys, custom.mammography.data.manifest; "
            "print(sorted(m for m in sys.modules if m.startswith('custom.mammography.data.readers.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['custom.mammography.data.readers.common', 'custom.mammography.data.readers.registry']"
