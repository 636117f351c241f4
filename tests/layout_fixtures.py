"""Tiny data sets written in the real VinDr-Mammo, CBIS-DDSM and INbreast layouts, with their known truth."""

from __future__ import annotations

import hashlib
import plistlib
from pathlib import Path

import numpy as np
import pandas as pd
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MAMMOGRAPHY_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.2"
H, W = 40, 30  # every full image here


def write_dicom(path: Path, pixels: np.ndarray) -> Path:
    """An uncompressed single-frame MONOCHROME2 DICOM of ``pixels`` (uint8 or uint16)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MAMMOGRAPHY_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = MAMMOGRAPHY_SOP_CLASS, meta.MediaStorageSOPInstanceUID, "MG"
    ds.Rows, ds.Columns = pixels.shape
    bits = pixels.dtype.itemsize * 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def grey_image(shape: tuple[int, int] = (H, W), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4096, size=shape, dtype=np.uint16)


def rectangle_mask(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """uint8 mask with 255 inside ``box = (xmin, ymin, xmax, ymax)``, max exclusive."""
    mask = np.zeros(shape, dtype=np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 255
    return mask


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-1 of every file under root, to show that reading changed no input byte."""
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def edit_csv(path: Path, edit, sep: str = ",") -> None:
    """Rewrites a fixture CSV through ``edit(DataFrame) -> DataFrame`` (setting up bad input)."""
    table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    edit(table).to_csv(path, sep=sep, index=False)


# ---- VinDr-Mammo ----

VINDR_STUDIES = {"s1": "training", "s2": "training", "s3": "training", "s4": "test"}
VINDR_FINDINGS = [  # image_id, categories, finding BI-RADS, box, pathology
    ("s1_L_CC", "['Mass']", "BI-RADS 4", (5.5, 6.0, 15.0, 20.25), "malignant"),
    ("s1_L_CC", "['Suspicious Calcification', 'Architectural Distortion']", "BI-RADS 3", (1, 2, 3, 4), "benign"),
    ("s4_R_MLO", "['Asymmetry']", "", (10, 10, 20, 30), ""),
]


def make_vindr(root: Path, *, pathology_column: bool = True) -> Path:
    """Four studies of four images; s1 left CC has three findings in two rows, s4 right MLO one."""
    breast, finding = [], []
    for number, (study, split) in enumerate(VINDR_STUDIES.items()):
        for side in "LR":
            for view in ("CC", "MLO"):
                image_id = f"{study}_{side}_{view}"
                write_dicom(root / "images" / study / f"{image_id}.dicom", grey_image(seed=number))
                base = {"study_id": study, "series_id": f"{study}_series", "image_id": image_id,
                        "laterality": side, "view_position": view, "height": str(H), "width": str(W),
                        "breast_birads": f"BI-RADS {1 + number % 5}", "breast_density": "DENSITY " + "ABCD"[number],
                        "split": split}
                breast.append(base)
                rows = [r for r in VINDR_FINDINGS if r[0] == image_id]
                for _, categories, birads, box, pathology in rows:
                    finding.append({**base, "finding_categories": categories, "finding_birads": birads,
                                    **dict(zip(("xmin", "ymin", "xmax", "ymax"), map(str, box))),
                                    "pathology": pathology})
                if not rows:
                    finding.append({**base, "finding_categories": "['No Finding']", "finding_birads": "",
                                    "xmin": "", "ymin": "", "xmax": "", "ymax": "", "pathology": ""})
    pd.DataFrame(breast).to_csv(root / "breast-level_annotations.csv", index=False)
    findings = pd.DataFrame(finding)
    if not pathology_column:
        findings = findings.drop(columns="pathology")
    findings.to_csv(root / "finding_annotations.csv", index=False)
    return root


# ---- CBIS-DDSM ----

CBIS_CSVS = {
    "mass_case_description_train_set.csv": ("mass", "Training"),
    "mass_case_description_test_set.csv": ("mass", "Test"),
    "calc_case_description_train_set.csv": ("calc", "Training"),
    "calc_case_description_test_set.csv": ("calc", "Test"),
}


def cbis_case(patient: str, side: str, view: str, kind: str, phase: str, box: tuple[int, int, int, int], *,
              pathology: str = "MALIGNANT", assessment: str = "4", density: str = "3",
              mask_scale: int = 1, swapped: bool = False, renamed: bool = False) -> dict:
    """One abnormality; the files are written by ``make_cbis``. ``box`` is in full-image pixels."""
    return dict(patient=patient, side=side, view=view, kind=kind, phase=phase, box=box, pathology=pathology,
                assessment=assessment, density=density, mask_scale=mask_scale, swapped=swapped, renamed=renamed)


CBIS_CASES = [
    # P_00001 left CC is listed both as mass and as calc: one image, two findings
    cbis_case("P_00001", "LEFT", "CC", "mass", "Training", (5, 10, 15, 20)),
    cbis_case("P_00001", "LEFT", "CC", "calc", "Training", (2, 4, 6, 8), pathology="BENIGN_WITHOUT_CALLBACK",
              assessment="3", mask_scale=2, renamed=True),
    cbis_case("P_00002", "RIGHT", "MLO", "mass", "Training", (3, 3, 9, 12), pathology="BENIGN", swapped=True),
    cbis_case("P_00003", "LEFT", "MLO", "mass", "Test", (0, 0, 4, 4), density="1"),
    cbis_case("P_00003", "RIGHT", "CC", "calc", "Test", (20, 30, 30, 40), density="1", assessment="0"),
    cbis_case("P_00004", "LEFT", "CC", "mass", "Training", (1, 1, 2, 2)),
    cbis_case("P_00004", "LEFT", "MLO", "calc", "Test", (1, 1, 2, 2)),
] + [cbis_case(f"P_000{n}", "RIGHT", "CC", "mass", "Training", (4, 4, 8, 8), density="2") for n in range(10, 18)]


def cbis_folder(case: dict, suffix: str = "") -> str:
    prefix = {"mass": "Mass", "calc": "Calc"}[case["kind"]]
    return f"{prefix}-{case['phase']}_{case['patient']}_{case['side']}_{case['view']}{suffix}"


def make_cbis(root: Path, cases: list[dict] = CBIS_CASES) -> Path:
    """The four CSVs and the DICOM folders; ``renamed`` cases are stored under other trailing names."""
    tables: dict[str, list[dict]] = {name: [] for name in CBIS_CSVS}
    for number, case in enumerate(cases):
        image_folder, roi_folder = cbis_folder(case), cbis_folder(case, "_1")
        image_csv = f"{image_folder}/1.3.6.1.{number}/1.3.6.2.{number}/000000.dcm"
        roi_csv, crop_csv = (f"{roi_folder}/1.3.6.3.{number}/1.3.6.4.{number}/00000{i}.dcm" for i in (1, 0))
        image_disk = image_csv
        if case["renamed"]:
            image_disk = f"{image_folder}/07-20-2016-DDSM-{number}/1.000000-full-{number}/1-1.dcm"
        write_dicom(root / image_disk, grey_image(seed=number))
        scale = case["mask_scale"]
        mask = rectangle_mask((H // scale, W // scale), tuple(v // scale for v in case["box"]))
        crop = grey_image((6, 5), seed=100 + number)
        mask_path, crop_path = (crop_csv, roi_csv) if case["swapped"] else (roi_csv, crop_csv)
        if case["renamed"]:
            mask_path = f"{roi_folder}/07-20-2016-DDSM-x/1.000000-ROI-{number}/1-2.dcm"
            crop_path = f"{roi_folder}/07-20-2016-DDSM-x/1.000000-ROI-{number}/1-1.dcm"
        write_dicom(root / mask_path, mask)
        write_dicom(root / crop_path, crop)
        name = next(n for n, (kind, phase) in CBIS_CSVS.items() if (kind, phase) == (case["kind"], case["phase"]))
        density_column = "breast_density" if case["kind"] == "mass" else "breast density"
        tables[name].append({
            "patient_id": case["patient"], density_column: case["density"], "left or right breast": case["side"],
            "image view": case["view"], "abnormality id": "1",
            "abnormality type": "mass" if case["kind"] == "mass" else "calcification",
            "assessment": case["assessment"], "pathology": case["pathology"], "subtlety": "3",
            "image file path": image_csv, "cropped image file path": crop_csv + "\n", "ROI mask file path": roi_csv,
        })
    for name, rows in tables.items():
        density_column = "breast_density" if name.startswith("mass") else "breast density"
        columns = ["patient_id", density_column, "left or right breast", "image view", "abnormality id",
                   "abnormality type", "assessment", "pathology", "subtlety", "image file path",
                   "cropped image file path", "ROI mask file path"]
        pd.DataFrame(rows, columns=columns).to_csv(root / name, index=False)
    return root


# ---- INbreast ----

INBREAST_IMAGES = [  # file id, hash, side, view, CSV patient id, date, ACR, Bi-Rads
    ("1001", "aaaa1111", "L", "CC", "removed", "201001", "2", "4a"),
    ("1002", "aaaa1111", "R", "CC", "removed", "201001", "2", "1"),
    ("1003", "aaaa1111", "L", "ML", "removed", "201001", "2", "4c"),
    ("1004", "aaaa1111", "R", "ML", "removed", "201001", "2", "1"),
    ("2001", "bbbb2222", "L", "CC", "", "200905", "4", "2"),
    ("2002", "bbbb2222", "R", "CC", "", "200905", "4", "5"),
    ("3001", "cccc3333", "R", "ML", "p7", "", "1", "6"),
] + [(f"40{n}", f"dddd{n}", "L", "CC", "", "", "3", "2") for n in range(10, 16)]
INBREAST_ROIS = {  # file id -> [(name, points)]
    "1001": [("Mass", [(5, 6), (15, 6), (10, 20.5)]), ("Calcification", [(3.5, 4.25)])],
    "2002": [("Spiculated Region", [(0, 0), (8, 9)])],
}


def inbreast_plist(rois: list[tuple[str, list[tuple[float, float]]]]) -> bytes:
    """OsiriX-style ROI XML: Images -> ROIs -> Name, Point_px as '(x, y)' strings."""
    entries = [{"Name": name, "NumberOfPoints": len(points), "Point_px": [f"({x:.6f}, {y:.6f})" for x, y in points],
                "Point_mm": [f"({x * 0.07:.6f}, {y * 0.07:.6f}, 0.000000)" for x, y in points]}
               for name, points in rois]
    return plistlib.dumps({"Images": [{"ImageIndex": 0, "NumberOfROIs": len(entries), "ROIs": entries}]},
                          fmt=plistlib.FMT_XML)


def make_inbreast(root: Path) -> Path:
    rows = []
    for number, (file_id, digest, side, view, patient, date, acr, birads) in enumerate(INBREAST_IMAGES):
        write_dicom(root / "AllDICOMs" / f"{file_id}_{digest}_MG_{side}_{view}_ANON.dcm", grey_image(seed=number))
        rows.append({"Patient ID": patient, "Patient age": "removed", "Laterality": side, "View": view,
                     "Acquisition date": date, "File Name": file_id, "ACR": acr, "Bi-Rads": birads})
    (root / "AllXML").mkdir(parents=True, exist_ok=True)
    for file_id, rois in INBREAST_ROIS.items():
        (root / "AllXML" / f"{file_id}.xml").write_bytes(inbreast_plist(rois))
    pd.DataFrame(rows).to_csv(root / "INbreast.csv", sep=";", index=False)
    return root


def flat_datastore(synthetic_vindr: Path, folder: Path) -> tuple[list[Path], Path]:
    """A MONAI Label datastore made from the synthetic VinDr set: one study's four images and one image of a
    second study whose other breast is not there, all named ``<study>_<side>_<view>.dcm`` in ``folder``.
    Returns the first study's images and the lone one."""
    import shutil

    table = pd.read_csv(synthetic_vindr / "breast-level_annotations.csv", dtype=str)
    first, second = sorted(table["study_id"].unique())[:2]
    folder.mkdir(parents=True, exist_ok=True)
    lone_row = (table["study_id"] == second) & (table["laterality"] == "L") & (table["view_position"] == "CC")
    for row in table[(table["study_id"] == first) | lone_row].itertuples():
        shutil.copyfile(synthetic_vindr / "images" / row.study_id / f"{row.image_id}.dicom",
                        folder / f"{row.study_id}_{row.laterality}_{row.view_position}.dcm")
    return sorted(folder.glob(f"{first}_*.dcm")), folder / f"{second}_L_CC.dcm"
