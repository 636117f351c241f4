"""The bad-input corpus: a tiny VinDr-layout archive, and one named way of spoiling it per case.

Each case builder spoils a fresh copy of the archive and returns what a user must be told: the file to be
named and the problem (a regex), or that nothing may be skipped (the input is odd but valid). The archive's
images are small (160 x 128 at 0.5 mm) so that every case runs through every command in seconds.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
from PIL import Image
from pydicom.uid import GrayscaleSoftcopyPresentationStateStorage, SecondaryCaptureImageStorage

from custom.mammography.data.readers.vindr import BREAST_CSV, FINDING_CSV
from tests.archive_fixtures import breast_image, retag
from tests.dicom_factory import write_mammogram_dicom, write_non_image_dicom
from tests.layout_fixtures import edit_csv

SHAPE = (160, 128)
STUDIES = ("s1", "s2")
EXAM = [("L", "CC"), ("R", "CC"), ("L", "MLO"), ("R", "MLO")]


@dataclass
class Expect:
    """What the user must be told about a spoiled archive.

    ``culprits``: files each command must name (empty: nothing may be skipped). ``problem``: regex of the
    message. ``fatal``: the annotation files themselves are unusable, so the run stops with that message.
    ``fmt``: layout to read. ``exam``: ``heatmap --images`` arguments for the spoiled study (None: the case
    is about annotations, which ``heatmap`` does not read); ``heatmap_fatal``: no heatmap can be made at all.
    ``stage``: "manifest" when reading the annotations already finds it, "images" when only opening the
    images does (``--check``, training, heatmap), "exams" when only pairing the images into exams does
    (training, heatmap): a manifest lists images, and a study with one breast is a valid list.
    """

    culprits: list[Path]
    problem: str = ""
    stage: str = "images"
    fatal: bool = False
    fmt: str = "vindr"
    exam: list[str] | None = None
    heatmap_fatal: bool = False
    exam_stops_at_first: bool = False  # both culprits in one exam: preparing it stops at the first one read


def image_path(root: Path, study: str, side: str, view: str) -> Path:
    return root / "images" / study / f"{study}_{side}_{view}.dicom"


def exam_of(root: Path, study: str) -> list[str]:
    return [str(image_path(root, study, side, view)) for side, view in EXAM]


def write_archive(root: Path) -> Path:
    """Two studies of four images with real tags, and both VinDr CSVs (one finding in s1's left CC)."""
    breast, findings = [], []
    for number, study in enumerate(STUDIES):
        for seed, (side, view) in enumerate(EXAM):
            path = image_path(root, study, side, view)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_mammogram_dicom(path, breast_image(side, 10 * number + seed, SHAPE), laterality=side, view=view,
                                  pixel_spacing=0.5)
            row = {"study_id": study, "series_id": f"{study}-series", "image_id": path.stem, "laterality": side,
                   "view_position": view, "height": SHAPE[0], "width": SHAPE[1], "breast_birads": "BI-RADS 1",
                   "breast_density": "DENSITY B", "split": "training"}
            breast.append(row)
            lesion = study == "s1" and (side, view) == ("L", "CC")
            findings.append({**row, "finding_categories": "['Mass']" if lesion else "['No Finding']",
                             "finding_birads": "BI-RADS 4" if lesion else "",
                             **dict(zip(("xmin", "ymin", "xmax", "ymax"), (40, 50, 70, 80) if lesion else [""] * 4))})
    pd.DataFrame(breast).to_csv(root / BREAST_CSV, index=False)
    pd.DataFrame(findings).to_csv(root / FINDING_CSV, index=False)
    return root


def write_generic_csv(root: Path, rows: list[dict]) -> Path:
    """``dataset.csv`` of the generic layout for the archive's images (``rows``: path, laterality, view, ...)."""
    table = pd.DataFrame([{"patient_id": "p1", "study_id": "s1", **row} for row in rows]).fillna("")
    table.to_csv(root / "dataset.csv", index=False)
    return root / "dataset.csv"


def _generic_exam(root: Path, study: str = "s1") -> list[dict]:
    return [{"path": str(image_path(root, study, side, view)), "laterality": side, "view": view} for side, view in EXAM]


# ---- the cases: each spoils the archive at ``root`` and says what must be reported ----


def zero_byte_file(root):
    path = image_path(root, "s1", "R", "CC")
    path.write_bytes(b"")
    return Expect([path], r"empty file \(0 bytes\)", exam=exam_of(root, "s1"))


def truncated_pixel_data(root):
    path = image_path(root, "s1", "R", "CC")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    return Expect([path], "pixel data cannot be decoded|no pixel data", exam=exam_of(root, "s1"))


def png_renamed_dcm(root):
    path = image_path(root, "s1", "L", "MLO")
    Image.fromarray((breast_image("L", 0, SHAPE) * 255).astype(np.uint8)).save(path, format="PNG")
    return Expect([path], r"not a DICOM file \(it holds a PNG image\)", exam=exam_of(root, "s1"))


def dicom_without_pixel_data(root):
    path = image_path(root, "s1", "L", "CC")
    write_non_image_dicom(path)
    return Expect([path], "no pixel data", exam=exam_of(root, "s1"))


def secondary_capture_screenshot(root):
    path = retag(image_path(root, "s2", "R", "MLO"), SOPClassUID=SecondaryCaptureImageStorage, Modality="OT")
    return Expect([path], "a secondary capture of modality 'OT'", exam=exam_of(root, "s2"))


def presentation_state(root):
    path = retag(image_path(root, "s2", "L", "CC"), SOPClassUID=GrayscaleSoftcopyPresentationStateStorage,
                 Modality="PR", PixelData=None)
    return Expect([path], "a presentation state", exam=exam_of(root, "s2"))


def _rewrite(path: Path, **options) -> Path:
    side, view = path.stem.split("_")[1:]
    return write_mammogram_dicom(path, breast_image(side, 3, SHAPE), laterality=side, view=view, pixel_spacing=0.5,
                                 **options)


def eight_bit_pixels(root):
    path = image_path(root, "s1", "R", "MLO")
    ds = pydicom.dcmread(_rewrite(path))
    pixels = (ds.pixel_array >> 4).astype(np.uint8)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelData = 8, 8, 7, pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return Expect([], exam=exam_of(root, "s1"))


def sixteen_bit_pixels(root):
    _rewrite(image_path(root, "s1", "R", "MLO"), bits_stored=16)
    return Expect([], exam=exam_of(root, "s1"))


def signed_pixels(root):
    _rewrite(image_path(root, "s1", "R", "MLO"), signed=True)
    return Expect([], exam=exam_of(root, "s1"))


def all_zero_image(root):
    """A blank export: every pixel 0. Nothing can be read from it, so it is refused, not trained on."""
    path = image_path(root, "s1", "R", "MLO")
    write_mammogram_dicom(path, np.zeros(SHAPE, dtype=np.float32), laterality="R", view="MLO", pixel_spacing=0.5)
    return Expect([path], "constant image: every pixel is 0", exam=exam_of(root, "s1"))


def colour_png(root):
    """A screenshot-like RGB PNG with coloured marks: a mammogram is grey, so its colour is not made tissue."""
    path = root / "s1_L_MLO.png"
    grey = (breast_image("L", 2, SHAPE) * 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[20:30, 20:60] = (255, 0, 0)  # a red annotation
    Image.fromarray(rgb).save(path)
    rows = _generic_exam(root)
    rows[2]["path"] = str(path)
    write_generic_csv(root, rows)
    return Expect([path], r"a colour image \(400 of its 20480 pixels are not grey\)", fmt="csv",
                  exam=[str(path) if "L_MLO" in p else p for p in exam_of(root, "s1")])


def laterality_conflict_unpairs_a_study(root):
    """The annotations call s1's right CC image left (its tags say right): the study looks unpaired, and the
    message must say why, naming the image, rather than "unpaired study"."""
    def relabel(table):
        table.loc[table["image_id"] == "s1_R_CC", "laterality"] = "L"
        return table

    edit_csv(root / BREAST_CSV, relabel)
    edit_csv(root / FINDING_CSV, relabel)
    return Expect([image_path(root, "s1", "R", "CC")], "contradictory laterality: L from given")


def multi_frame_tomosynthesis(root):
    path = image_path(root, "s2", "R", "CC")
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 3
    ds.PixelData = ds.PixelData * 3
    ds.save_as(path, enforce_file_format=True)
    return Expect([path], r"a multi-frame object \(3 frames", exam=exam_of(root, "s2"))


def huge_image(root):
    """A 5,000 x 4,000 film scan at 0.04 mm (a small breast image blown up: texture is not the point here)."""
    big = np.kron(breast_image("L", 3, (250, 200)), np.ones((20, 20), dtype=np.float32))
    write_mammogram_dicom(image_path(root, "s2", "L", "MLO"), big, laterality="L", view="MLO", pixel_spacing=0.04)
    return Expect([], exam=exam_of(root, "s2"))


def nonfinite_nifti(root):
    path = root / "s1_R_CC.nii.gz"
    values = breast_image("R", 1, SHAPE).astype(np.float32)
    values[10:20, 10:20] = np.nan
    values[30, 30] = np.inf
    nib.save(nib.Nifti1Image(values.T, affine=np.diag([0.5, 0.5, 1.0, 1.0])), path)
    rows = _generic_exam(root)
    rows[1]["path"] = str(path)
    write_generic_csv(root, rows)
    return Expect([path], "101 of 20480 pixels are NaN or infinite", fmt="csv",
                  exam=[str(path) if "R_CC" in p else p for p in exam_of(root, "s1")])


def contradictory_laterality(root):
    def swap(table):
        cc = (table["study_id"] == "s1") & (table["view_position"] == "CC")
        table.loc[cc, "laterality"] = table.loc[cc, "laterality"].map({"L": "R", "R": "L"})
        return table

    edit_csv(root / BREAST_CSV, swap)
    culprits = [image_path(root, "s1", side, "CC") for side in "LR"]
    return Expect(culprits, "contradictory laterality: . from given", exam_stops_at_first=True, exam=[
        f"R_CC={culprits[0]}", f"L_CC={culprits[1]}", *exam_of(root, "s1")[2:]])


def missing_view_everywhere(root):
    path = retag(image_path(root, "s1", "L", "MLO"), ViewPosition=None, ViewCodeSequence=None,
                 PatientOrientation=None)
    silent = path.with_name("1-3.dicom")
    path.rename(silent)
    rows = _generic_exam(root)
    rows[2].update(path=str(silent), view="")
    write_generic_csv(root, rows)
    return Expect([silent], "view not found in tags", fmt="csv", stage="manifest",
                  exam=[str(silent) if "L_MLO" in p else p for p in exam_of(root, "s1")])


def csv_row_missing_file(root):
    path = image_path(root, "s2", "R", "CC")
    path.unlink()
    return Expect([path], "image file missing", stage="manifest")


def csv_unknown_layout(root):
    pd.DataFrame({"StudyUID": ["s1"], "File": ["a.dcm"], "Side": ["L"]}).to_csv(root / BREAST_CSV, index=False)
    return Expect([root / BREAST_CSV], r"missing columns \['study_id'", stage="manifest", fatal=True)


def box_outside_image(root):
    def shift(table):
        lesion = table["finding_categories"] == "['Mass']"
        table.loc[lesion, ["xmin", "ymin", "xmax", "ymax"]] = ["1000", "1000", "1040", "1050"]
        return table

    edit_csv(root / FINDING_CSV, shift)
    return Expect([root / FINDING_CSV], "box outside image: row 2", stage="manifest")


def study_with_one_breast(root):
    for name in (BREAST_CSV, FINDING_CSV):
        edit_csv(root / name, lambda t: t[~((t["study_id"] == "s2") & (t["laterality"] == "R"))])
    culprits = [image_path(root, "s2", "L", view) for view in ("CC", "MLO")]
    return Expect(culprits, r"unpaired study: study s2 view (CC|MLO) has breasts \['L'\]|only the L breast was given",
                  stage="exams", exam=exam_of(root, "s2")[0::2], heatmap_fatal=True)


def three_cc_images_of_one_side(root):
    rows = _generic_exam(root)
    for n in (1, 2):
        copy = image_path(root, "s1", "L", "CC").with_name(f"s1_L_CC_copy{n}.dicom")
        shutil.copy(image_path(root, "s1", "L", "CC"), copy)
        rows.append({"path": str(copy), "laterality": "L", "view": "CC"})
    write_generic_csv(root, rows)
    return Expect([image_path(root, "s1", "L", "CC")], r"has breasts \['L', 'L', 'L', 'R'\]|two L CC images", fmt="csv",
                  stage="exams", exam=[row["path"] for row in rows], heatmap_fatal=True)


def duplicated_image_ids(root):
    rows = _generic_exam(root) + [{**row, "patient_id": "p2", "study_id": "s2"} for row in _generic_exam(root, "s2")]
    for row in rows:
        row["image_id"] = Path(row["path"]).stem
    rows[4]["image_id"] = rows[0]["image_id"]  # s2's left CC listed under s1's left CC id
    write_generic_csv(root, rows)
    return Expect([Path(rows[4]["path"])], "duplicate image id: 's1_L_CC' is also", fmt="csv", stage="manifest")


def duplicate_finding_row(root):
    edit_csv(root / FINDING_CSV, lambda t: pd.concat([t, t[t["finding_categories"] == "['Mass']"]], ignore_index=True))
    return Expect([root / FINDING_CSV], r"duplicate finding: row 10 \(image s1_L_CC\) repeats Mass", stage="manifest")


def finding_categories_not_a_list(root):
    def bare(table):
        table.loc[table["finding_categories"] == "['Mass']", "finding_categories"] = "Mass"
        return table

    edit_csv(root / FINDING_CSV, bare)
    return Expect([root / FINDING_CSV], "finding_categories 'Mass' is not a list of names such as", stage="manifest")


def latin1_csv(root):
    text = (root / BREAST_CSV).read_text().replace("DENSITY B", "DENSITÉ B", 2)
    (root / BREAST_CSV).write_bytes(text.encode("latin-1"))
    return Expect([root / BREAST_CSV], "not UTF-8 text: line 2 holds byte 0xc9", stage="manifest", fatal=True)


def symlink_loop(root):
    folder = root / "images" / "s2"
    shutil.rmtree(folder)
    folder.symlink_to(folder)
    return Expect([folder / f"s2_{side}_{view}.dicom" for side, view in EXAM], "symbolic link loop", stage="manifest",
                  exam=exam_of(root, "s2"), heatmap_fatal=True)


CASES = {builder.__name__: builder for builder in (
    zero_byte_file, truncated_pixel_data, png_renamed_dcm, dicom_without_pixel_data, secondary_capture_screenshot,
    presentation_state, eight_bit_pixels, sixteen_bit_pixels, signed_pixels, all_zero_image, colour_png,
    multi_frame_tomosynthesis, huge_image, nonfinite_nifti, contradictory_laterality, laterality_conflict_unpairs_a_study,
    missing_view_everywhere, csv_row_missing_file, csv_unknown_layout,
    box_outside_image, study_with_one_breast, three_cc_images_of_one_side, duplicated_image_ids,
    duplicate_finding_row, finding_categories_not_a_list, latin1_csv, symlink_loop,
)}
# cases about annotation files only: ``heatmap`` reads image files, never annotations
ANNOTATION_CASES = {"csv_row_missing_file", "csv_unknown_layout", "box_outside_image", "duplicated_image_ids",
                    "duplicate_finding_row", "finding_categories_not_a_list", "latin1_csv",
                    "laterality_conflict_unpairs_a_study"}
