"""Synthetic VinDr-like data: layout, determinism, labels, DICOM variants, and that lesions are not a
trivial raw-pixel difference between the two aligned breasts."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from custom.mammography.data.synthetic import PRESETS, generate_vindr_like, plan_studies, render_study
from custom.mammography.data.synthetic.dicom_writer import stored_values

VINDR_BREAST = ["study_id", "series_id", "image_id", "laterality", "view_position", "height", "width",
                "breast_birads", "breast_density", "split"]
VINDR_FINDING = VINDR_BREAST[:-1] + ["finding_categories", "finding_birads", "xmin", "ymin", "xmax", "ymax", "split"]
STUDIES = 8


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synthetic")
    return {name: generate_vindr_like(root / name, STUDIES, seed, preset="test")
            for name, seed in (("a", 0), ("a_again", 0), ("b", 1))}


def _pixels(root: Path) -> dict[str, np.ndarray]:
    return {p.stem: pydicom.dcmread(p).pixel_array for p in sorted((root / "images").glob("*/*.dicom"))}


def test_layout(data):
    root = data["a"]
    breast = pd.read_csv(root / "breast-level_annotations.csv")
    files = sorted((root / "images").glob("*/*.dicom"))
    assert len(files) == 4 * STUDIES == len(breast)
    assert {(f.parent.name, f.stem) for f in files} == set(zip(breast.study_id, breast.image_id))
    assert "synthetic" in (root / "README.txt").read_text().lower()
    assert (breast.groupby("study_id").apply(lambda s: sorted(zip(s.laterality, s.view_position)), include_groups=False)
            .map(lambda v: v == [("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")]).all())


def test_columns_are_vindr_plus_pathology(data):
    assert list(pd.read_csv(data["a"] / "breast-level_annotations.csv", nrows=0).columns) == VINDR_BREAST
    assert list(pd.read_csv(data["a"] / "finding_annotations.csv", nrows=0).columns) == VINDR_FINDING + ["pathology"]


def test_deterministic_by_seed(data):
    for name in ("breast-level_annotations.csv", "finding_annotations.csv"):
        assert (data["a"] / name).read_bytes() == (data["a_again"] / name).read_bytes()
        assert (data["a"] / name).read_bytes() != (data["b"] / name).read_bytes()
    a, again, b = _pixels(data["a"]), _pixels(data["a_again"]), _pixels(data["b"])
    assert a.keys() == again.keys() and all(np.array_equal(a[k], again[k]) for k in a)
    assert not set(a) & set(b)
    assert not any(np.array_equal(x, y) for x, y in zip(a.values(), b.values()))


def test_labels(data):
    breast = pd.read_csv(data["a"] / "breast-level_annotations.csv")
    finding = pd.read_csv(data["a"] / "finding_annotations.csv", keep_default_na=False, na_values=[""])
    assert set(breast.breast_birads) <= {f"BI-RADS {k}" for k in range(1, 6)}
    assert set(breast.breast_density) <= {f"DENSITY {d}" for d in "ABCD"}
    assert breast.groupby("study_id").breast_density.nunique().eq(1).all()
    splits = breast.groupby("study_id").split.agg(set)
    assert splits.map(len).eq(1).all() and {s.pop() for s in splits} <= {"training", "test"}
    assert (breast.groupby("study_id").split.first() == "test").sum() == round(0.2 * STUDIES)
    assert set(finding.image_id) == set(breast.image_id)

    none = finding[finding.finding_categories == "['No Finding']"]
    assert none[["finding_birads", "xmin", "ymin", "xmax", "ymax", "pathology"]].isna().all().all()
    boxed = finding[finding.finding_categories != "['No Finding']"]
    assert 0.3 <= boxed.study_id.nunique() / STUDIES <= 0.4
    for cats in boxed.finding_categories:
        assert set(ast.literal_eval(cats)) <= {"Mass", "Suspicious Calcification", "Architectural Distortion"}
    assert set(boxed.pathology) <= {"malignant", "benign"} and boxed.finding_birads.notna().all()
    assert (boxed.xmin >= 0).all() and (boxed.ymin >= 0).all()
    assert (boxed.xmax <= boxed.width).all() and (boxed.ymax <= boxed.height).all()
    assert (boxed.xmin < boxed.xmax).all() and (boxed.ymin < boxed.ymax).all()
    for _, study in boxed.groupby("study_id"):
        assert study.laterality.nunique() == 1, "findings in one breast only"
        assert set(study.view_position) == {"CC", "MLO"}, "a finding shows in both views"
    lesion_breasts = set(zip(boxed.study_id, boxed.laterality))
    for row in breast.itertuples():
        birads = int(row.breast_birads.split()[1])
        assert (birads >= 3) == ((row.study_id, row.laterality) in lesion_breasts)


def test_pixels_and_boxes_match_the_aligned_render(data):
    """Stored pixels are the render mirrored for right breasts (chest wall right), losslessly encoded;
    boxes are the render's boxes in that stored geometry."""
    finding = pd.read_csv(data["a"] / "finding_annotations.csv")
    h, w = PRESETS["test"].shape
    for plan in plan_studies(STUDIES, 0, "test"):
        rendered = render_study(plan)
        for image in plan.images:
            breast = rendered[(image.laterality, image.view)]
            ds = pydicom.dcmread(data["a"] / "images" / plan.study_id / f"{image.image_id}.dicom")
            stored = breast.image[:, ::-1] if image.laterality == "R" else breast.image
            expected = stored_values(stored, ds.BitsStored, ds.PhotometricInterpretation, plan.tags.for_processing)
            assert np.array_equal(ds.pixel_array, expected)
            rows = finding[finding.image_id == image.image_id]
            assert len(rows) == max(len(breast.boxes), 1)
            for (y0, x0, y1, x1), row in zip(breast.boxes, rows.itertuples()):
                if image.laterality == "R":
                    x0, x1 = w - x1, w - x0
                assert np.allclose([row.xmin, row.ymin, row.xmax, row.ymax], [x0, y0, x1, y1], atol=0.01)
            chest, far = stored[:, :8].mean(), stored[:, -8:].mean()
            assert (chest > far) if image.laterality == "L" else (chest < far)


def test_dicom_tags_and_variants(data):
    seen = set()
    for path in sorted((data["a"] / "images").glob("*/*.dicom")):
        ds = pydicom.dcmread(path)
        assert ds.Modality == "MG" and ds.BitsAllocated == 16 and ds.BitsStored in (12, 14)
        assert ds.SOPClassUID in ("1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2.1")
        assert ds.PresentationIntentType in ("FOR PRESENTATION", "FOR PROCESSING")
        assert ds.BreastImplantPresent == "NO" and float(ds.PixelSpacing[0]) == PRESETS["test"].spacing_mm
        assert ds.ViewCodeSequence[0].CodeValue in ("399162004", "399368009")
        assert ds.ViewCodeSequence[0].CodingSchemeDesignator == "SCT"
        assert ("ImageLaterality" in ds) != ("Laterality" in ds)
        seen.add(ds.PhotometricInterpretation)
        seen.add("compressed" if ds.file_meta.TransferSyntaxUID.is_compressed else "raw")
        seen.add("laterality-only" if "Laterality" in ds else "image-laterality")
        seen.add("view-code-only" if "ViewPosition" not in ds else "view-position")
        seen.add(ds.PresentationIntentType)
    assert seen == {"MONOCHROME1", "MONOCHROME2", "compressed", "raw", "laterality-only", "image-laterality",
                    "view-code-only", "view-position", "FOR PRESENTATION", "FOR PROCESSING"}
    for seed in range(30):  # the mix does not depend on the seed
        variants = [i.variant for p in plan_studies(STUDIES, seed, "test") for i in p.images]
        assert any(v.photometric == "MONOCHROME1" for v in variants)
        assert any(v.transfer_syntax.is_compressed for v in variants)
        assert any(v.laterality_tag == "Laterality" for v in variants)
        assert any(v.view_tag == "ViewCodeSequence" for v in variants)


def test_breasts_share_outline_not_texture():
    for plan in plan_studies(6, 3, "test"):
        rendered = render_study(plan)
        for view in ("CC", "MLO"):
            left, right = rendered[("L", view)], rendered[("R", view)]
            iou = (left.mask & right.mask).sum() / (left.mask | right.mask).sum()
            assert iou >= 0.9, iou
            both = ndimage.binary_erosion(left.mask & right.mask, iterations=10)
            assert abs(np.corrcoef(left.texture[both], right.texture[both])[0, 1]) < 0.3
            detail = [b.image - ndimage.gaussian_filter(b.image, 4) for b in (left, right)]
            assert abs(np.corrcoef(detail[0][both], detail[1][both])[0, 1]) < 0.3


def test_lesions_are_not_a_raw_pixel_difference():
    """Mean |A - B| of 48 px (12 mm) patch pairs at lesions vs at normal places, default spacing."""
    half, margin = 24, 10.0 / PRESETS["default"].spacing_mm  # lesions lie >= 10 mm inside the skin too
    rng = np.random.default_rng(0)
    lesion, normal = [], []
    plans = plan_studies(48, 7, "default")
    plans = [p for p in plans if p.finding] + [p for p in plans if not p.finding][:8]
    for plan in plans:
        rendered = render_study(plan)
        for view in ("CC", "MLO"):
            a, b = rendered[("L", view)], rendered[("R", view)]
            inside = ndimage.distance_transform_edt(np.pad(a.mask & b.mask, 1))[1:-1, 1:-1] > max(half, margin)
            for y0, x0, y1, x1 in a.boxes + b.boxes:
                cy, cx = int((y0 + y1) / 2), int((x0 + x1) / 2)
                lesion.append(np.abs(a.image[cy - half:cy + half, cx - half:cx + half]
                                     - b.image[cy - half:cy + half, cx - half:cx + half]).mean())
                pad = 2 * half
                inside[max(int(y0) - pad, 0):int(y1) + pad, max(int(x0) - pad, 0):int(x1) + pad] = False
            ys, xs = np.nonzero(inside)
            for k in rng.choice(ys.size, 3, replace=False):
                cy, cx = ys[k], xs[k]
                normal.append(np.abs(a.image[cy - half:cy + half, cx - half:cx + half]
                                     - b.image[cy - half:cy + half, cx - half:cx + half]).mean())
    auc = roc_auc_score([1] * len(lesion) + [0] * len(normal), lesion + normal)
    print(f"raw-pixel-difference AUC, lesion vs normal patch pairs: {auc:.3f} ({len(lesion)} vs {len(normal)})")
    assert len(lesion) >= 30
    assert auc < 0.85, auc


def test_writing_jpeg2000_images_logs_nothing_per_image(tmp_path, caplog):
    """The JPEG 2000 encoder's per-tile INFO lines would print one line per image of a first run."""
    caplog.set_level(logging.INFO)
    root = generate_vindr_like(tmp_path / "quiet", 4, 0, preset="test")
    syntaxes = {str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID)
                for p in (root / "images").glob("*/*.dicom")}
    assert str(JPEG2000Lossless) in syntaxes
    assert not [r for r in caplog.records if r.name.startswith("openjpeg")]
