"""read_mammogram and the DICOM decoding behind it, on synthetic files stored every way archives do."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, RLELossless

from custom.mammography.data.dicom import read_dicom
from custom.mammography.data.identity import Hint, dicom_hints, parse_name
from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.reader import read_mammogram
from custom.mammography.data.spacing import DDSM_DIGITISER_SPACING_MM, assumed_spacing_warning
from custom.mammography.data.transforms import LoadMammogram, LoadMammogramd
from tests.archive_fixtures import retag
from tests.dicom_factory import (
    add_border,
    add_film_label,
    border_free,
    label_box,
    synthetic_breast,
    write_mammogram_dicom,
    write_non_image_dicom,
)

SHAPE = (256, 200)


@pytest.fixture(scope="module")
def breast() -> tuple[np.ndarray, np.ndarray]:
    return synthetic_breast(SHAPE)


@pytest.fixture(scope="module")
def reference(breast, tmp_path_factory) -> tuple[np.ndarray, dict]:
    return read_mammogram(write_mammogram_dicom(tmp_path_factory.mktemp("ref") / "ref.dcm", breast[0]))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


VARIANTS = {
    "monochrome1": {"photometric": "MONOCHROME1"},
    "14bit_high_bit_garbage": {"bits_stored": 14, "garbage_high_bits": True},
    "signed_12bit_high_bit_garbage": {"signed": True, "garbage_high_bits": True},
    "rescale_slope_intercept": {"rescale": (2.0, -100.0)},
    "window_full_range": {"window": (2047.5, 4096.0)},
    "for_processing": {"presentation_intent": "FOR PROCESSING"},
    "rle_lossless": {"transfer_syntax": RLELossless},
    "jpeg2000_lossless": {"transfer_syntax": JPEG2000Lossless},
    "jpeg2000_lossless_14bit": {"transfer_syntax": JPEG2000Lossless, "bits_stored": 14},
    "jpeg_baseline": {"transfer_syntax": JPEGBaseline8Bit},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_dicom_variant_reads_as_the_same_image(tmp_path: Path, breast, reference, variant: str) -> None:
    image, meta = read_mammogram(write_mammogram_dicom(tmp_path / f"{variant}.dcm", breast[0], **VARIANTS[variant]))
    expected, expected_meta = reference
    assert image.dtype == np.float32 and 0.0 <= image.min() and image.max() <= 1.0
    assert meta["crop_box"] == expected_meta["crop_box"] and image.shape == expected.shape
    lossy = variant == "jpeg_baseline"
    assert np.abs(image - expected).max() < (0.1 if lossy else 0.01)
    assert np.abs(image - expected).mean() < (0.01 if lossy else 0.001)


def test_native_pixels_are_the_modality_values(tmp_path: Path, breast) -> None:
    values = np.round(breast[0] * 4095)
    plain = read_dicom(write_mammogram_dicom(tmp_path / "plain.dcm", breast[0]))
    np.testing.assert_array_equal(plain.pixels, values)
    garbage = read_dicom(write_mammogram_dicom(tmp_path / "garbage.dcm", breast[0], garbage_high_bits=True))
    np.testing.assert_array_equal(garbage.pixels, values)
    signed = read_dicom(write_mammogram_dicom(tmp_path / "s.dcm", breast[0], signed=True, garbage_high_bits=True))
    np.testing.assert_array_equal(signed.pixels, values - 2048)
    rescaled = read_dicom(write_mammogram_dicom(tmp_path / "r.dcm", breast[0], rescale=(2.0, -100.0)))
    np.testing.assert_allclose(rescaled.pixels, values, atol=1.0)


def test_monochrome1_is_inverted_so_bright_is_dense(tmp_path: Path, breast) -> None:
    image, truth = breast
    decoded = read_dicom(write_mammogram_dicom(tmp_path / "m1.dcm", image, photometric="MONOCHROME1"))
    assert decoded.photometric == "MONOCHROME1"
    assert decoded.pixels[truth].mean() > decoded.pixels[~truth].mean() + 1000
    np.testing.assert_array_equal(decoded.pixels, np.round(image * 4095))


def test_raw_for_processing_exposure_is_log_transformed(tmp_path: Path, breast) -> None:
    """Raw detector exposure falls exponentially with density; decoding must make it linear again."""
    image, truth = breast
    exposure = np.exp(-3.0 * image)
    path = write_mammogram_dicom(tmp_path / "raw.dcm", exposure / exposure.max(), presentation_intent="FOR PROCESSING")
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "MONOCHROME1"  # raw exposure: high values are bright on the detector
    ds.save_as(path)
    decoded = read_dicom(path)
    inside = truth & (image > 0.05)
    assert np.corrcoef(decoded.pixels[inside], image[inside])[0, 1] > 0.99
    assert decoded.pixels[truth].mean() > decoded.pixels[~truth].mean()


def windowed(values: np.ndarray, centre: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2 linear window onto the 12-bit output range."""
    return np.clip((values - (centre - 0.5)) / (width - 1) + 0.5, 0.0, 1.0) * 4095


def test_window_centre_width_is_applied_and_the_first_of_several_wins(tmp_path: Path, breast) -> None:
    values = np.round(breast[0] * 4095)
    one = read_dicom(write_mammogram_dicom(tmp_path / "w1.dcm", breast[0], window=(1500.0, 1000.0)))
    np.testing.assert_allclose(one.pixels, windowed(values, 1500.0, 1000.0), atol=0.01)
    several = write_mammogram_dicom(tmp_path / "w2.dcm", breast[0], window=([1500.0, 3000.0], [1000.0, 400.0]))
    np.testing.assert_allclose(read_dicom(several).pixels, windowed(values, 1500.0, 1000.0), atol=0.01)


def test_jpeg_ls_lossless_decodes_like_native() -> None:
    # No JPEG-LS encoder is installed (pyjpegls); pydicom ships the same MR slice in both syntaxes.
    native = read_dicom(get_testdata_file("MR_small.dcm"), laterality="L", view="CC")
    jpeg_ls = read_dicom(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"), laterality="L", view="CC")
    assert native.pixels.shape == (64, 64)
    np.testing.assert_array_equal(jpeg_ls.pixels, native.pixels)


LATERALITY_SOURCES = ["ImageLaterality", "Laterality", "FrameLaterality", "PatientOrientation", "SeriesDescription"]


@pytest.mark.parametrize("laterality", ["L", "R"])
@pytest.mark.parametrize("source", LATERALITY_SOURCES)
def test_laterality_from_every_tag(tmp_path: Path, breast, source: str, laterality: str) -> None:
    path = write_mammogram_dicom(tmp_path / "x.dcm", breast[0], laterality=laterality, laterality_in=source)
    assert read_mammogram(path)[1]["laterality"] == laterality


VIEW_SOURCES = ["ViewPosition", "ViewCodeSequence", "ViewCodeMeaning", "PatientOrientation", "SeriesDescription"]


@pytest.mark.parametrize("view", ["CC", "MLO"])
@pytest.mark.parametrize("source", VIEW_SOURCES)
def test_view_from_every_tag(tmp_path: Path, breast, source: str, view: str) -> None:
    path = write_mammogram_dicom(tmp_path / "x.dcm", breast[0], view=view, view_in=source)
    assert read_mammogram(path)[1]["view"] == view


@pytest.mark.parametrize(("code", "view"), [("R-10242", "CC"), ("R-10226", "MLO"), ("399368009", "MLO")])
def test_view_codes(code: str, view: str) -> None:
    item = Dataset()
    item.CodeValue, item.CodeMeaning = code, "unlabelled"
    ds = Dataset()
    ds.ViewCodeSequence = Sequence([item])
    assert dicom_hints(ds) == [Hint("ViewCodeSequence", view=view)]


@pytest.mark.parametrize(
    ("relative", "laterality", "view"),
    [
        ("AllDICOMs/22678622_61b13c59bcba149e_MG_R_CC_ANON.dcm", "R", "CC"),
        ("AllDICOMs/20586908_6c613a14b80a8591_MG_L_ML_ANON.dcm", "L", "MLO"),
        ("Mass-Training_P_00001_LEFT_CC/07-20-2016-DDSM-74994/1.000000-full mammogram images-24515/1-1.dcm", "L", "CC"),
        ("Calc-Test_P_00038_RIGHT_MLO/1.3.6.1/08-29-2017-DDSM-96009/1-1.dcm", "R", "MLO"),
        ("exam/RMLO.dcm", "R", "MLO"),
    ],
)
def test_laterality_and_view_from_file_name(tmp_path: Path, breast, relative: str, laterality: str, view: str) -> None:
    path = tmp_path / relative
    path.parent.mkdir(parents=True)
    write_mammogram_dicom(path, breast[0], laterality_in=None, view_in=None)
    meta = read_mammogram(path)[1]
    assert (meta["laterality"], meta["view"]) == (laterality, view)


def test_parse_name_needs_one_unambiguous_token() -> None:
    assert parse_name("Mass-Training_P_00001_LEFT_CC") == ("L", "CC")
    assert parse_name("case_lmlo") == ("L", "MLO")
    assert parse_name("study_1234_MG") == (None, None)
    assert parse_name("L_and_R_CC") == (None, "CC")


def test_arguments_name_what_the_file_does_not_say(tmp_path: Path, breast) -> None:
    silent = write_mammogram_dicom(tmp_path / "1-132.dcm", breast[0], laterality_in=None, view_in=None)
    meta = read_mammogram(silent, laterality="right", view="ml")[1]
    assert (meta["laterality"], meta["view"]) == ("R", "MLO")
    with pytest.raises(ValueError, match="laterality"):
        read_mammogram(silent, laterality="both")
    tagged = write_mammogram_dicom(tmp_path / "x.dcm", breast[0], laterality="L", view="CC")
    assert read_mammogram(tagged, laterality="L", view="CC")[1]["laterality"] == "L"
    with pytest.raises(MammogramReadError, match="contradictory laterality: R from given .*L from ImageLaterality"):
        read_mammogram(tagged, laterality="R")


@pytest.mark.parametrize(("missing", "kwargs"), [("laterality", {"laterality_in": None}), ("view", {"view_in": None})])
def test_missing_laterality_or_view_names_the_file(tmp_path: Path, breast, missing: str, kwargs: dict) -> None:
    path = write_mammogram_dicom(tmp_path / "anonymous_image.dcm", breast[0], **kwargs)
    with pytest.raises(MammogramReadError, match=f"{missing} not found in tags") as error:
        read_mammogram(path)
    assert "anonymous_image.dcm" in str(error.value) and error.value.path == str(path)


def truncated_copy(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


@pytest.mark.filterwarnings("ignore:End of file reached:UserWarning")
@pytest.mark.parametrize("kind", ["corrupt", "truncated", "truncated_jpeg2000", "no_pixel_data", "text", "png_text"])
def test_unreadable_files_raise_naming_the_file(tmp_path: Path, breast, kind: str) -> None:
    if kind == "corrupt":
        path = tmp_path / "corrupt.dcm"
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    elif kind.startswith("truncated"):
        syntax = {"transfer_syntax": JPEG2000Lossless} if kind.endswith("jpeg2000") else {}
        whole = write_mammogram_dicom(tmp_path / "whole.dcm", breast[0], **syntax)
        path = truncated_copy(whole, tmp_path / f"{kind}.dcm")
    elif kind == "no_pixel_data":
        path = write_non_image_dicom(tmp_path / "report.dcm")
    elif kind == "text":
        path = tmp_path / "notes"
        path.write_text("not an image\n" * 20)
    else:
        path = tmp_path / "L_CC.png"
        path.write_text("not an image either")
    with pytest.raises(MammogramReadError) as error:
        read_mammogram(path)
    assert path.name in str(error.value)


def test_missing_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(MammogramReadError, match="file not found"):
        read_mammogram(tmp_path / "absent.dcm")
    (tmp_path / "table.csv").write_text("a,b\n")
    with pytest.raises(MammogramReadError, match="not a DICOM, PNG or NIfTI file"):
        read_mammogram(tmp_path / "table.csv")


def test_dicom_found_by_magic_when_named_by_uid(tmp_path: Path, breast, reference) -> None:
    path = write_mammogram_dicom(tmp_path / "1.2.840.113619.2.55", breast[0])
    np.testing.assert_array_equal(read_mammogram(path)[0], reference[0])


@pytest.mark.parametrize("laterality", ["L", "R"])
def test_chest_wall_ends_on_the_left(tmp_path: Path, laterality: str) -> None:
    left, _ = synthetic_breast(SHAPE, chest_wall="left", seed=4)
    right, _ = synthetic_breast(SHAPE, chest_wall="right", seed=4)
    image, meta = read_mammogram(write_mammogram_dicom(tmp_path / "r.dcm", right, laterality=laterality))
    expected, expected_meta = read_mammogram(write_mammogram_dicom(tmp_path / "l.dcm", left, laterality=laterality))
    assert meta["flipped"] and not expected_meta["flipped"]
    np.testing.assert_allclose(image, expected, atol=1e-6)
    assert meta["mask"][:, 0].mean() > 0.5 and not meta["mask"][:, -1].any()


@pytest.mark.parametrize("chest_wall", ["left", "right"])
def test_film_label_and_border_are_removed(tmp_path: Path, chest_wall: str) -> None:
    image, truth = synthetic_breast(SHAPE, chest_wall=chest_wall, seed=2)
    corner = f"bottom-{'right' if chest_wall == 'left' else 'left'}"
    image = add_border(add_film_label(image, corner=corner), width=6, edges="tbr")
    truth = border_free(truth, width=6, edges="tbr")
    output, meta = read_mammogram(write_mammogram_dicom(tmp_path / "film.dcm", image))
    y0, x0, y1, x1 = meta["crop_box"]
    expected = (truth[:, ::-1] if meta["flipped"] else truth)[y0:y1, x0:x1]
    mask = meta["mask"]
    assert float((mask & expected).sum() / (mask | expected).sum()) >= 0.9
    assert not output[~mask].any()
    # The label lies outside the crop or is blanked: nothing bright outside the breast.
    ly0, lx0, ly1, lx1 = label_box(SHAPE, corner)
    label = np.zeros(SHAPE, dtype=bool)
    label[ly0:ly1, lx0:lx1] = True
    label_out = (label[:, ::-1] if meta["flipped"] else label)[y0:y1, x0:x1]
    assert not output[label_out].any()


def test_meta_follows_the_contract(tmp_path: Path, breast) -> None:
    path = write_mammogram_dicom(
        tmp_path / "m.dcm", breast[0], laterality="R", view="MLO", presentation_intent="FOR PROCESSING",
        pixel_spacing=0.07,
    )
    image, meta = read_mammogram(path)
    assert meta["path"] == str(path) and meta["original_shape"] == SHAPE
    assert (meta["laterality"], meta["view"], meta["photometric"]) == ("R", "MLO", "MONOCHROME2")
    assert meta["presentation_intent"] == "FOR PROCESSING" and meta["pixel_spacing"] == pytest.approx(0.07)
    assert meta["scale"] == 1.0 and meta["flipped"] is False
    assert meta["mask"].shape == image.shape and meta["mask"].dtype == bool
    assert image[meta["mask"]].max() == 1.0 and image[~meta["mask"]].max() == 0.0
    y0, x0, y1, x1 = meta["crop_box"]
    assert image.shape == (y1 - y0, x1 - x0) and x0 == 0
    assert read_mammogram(write_mammogram_dicom(tmp_path / "p.dcm", breast[0]))[1]["presentation_intent"] == (
        "FOR PRESENTATION"
    )


def test_spacing_downsample_and_their_priority(tmp_path: Path, breast) -> None:
    path = write_mammogram_dicom(tmp_path / "s.dcm", breast[0], pixel_spacing=0.1)
    full_meta = read_mammogram(path)[1]
    image, meta = read_mammogram(path, spacing=0.2, downsample=4)
    assert meta["scale"] == pytest.approx(0.5)
    y0, x0, y1, x1 = meta["crop_box"]
    # The crop follows the 2 x 2 blocks of the early reduction, so it lands on even pixels.
    assert all(v % 2 == 0 for v in (y0, x0, y1)) and (x1 % 2 == 0 or x1 == SHAPE[1])
    np.testing.assert_allclose(meta["crop_box"], full_meta["crop_box"], atol=4)
    assert image.shape == (round((y1 - y0) * 0.5), round((x1 - x0) * 0.5))
    assert read_mammogram(path, downsample=2.5)[1]["scale"] == pytest.approx(0.4)
    image, meta = read_mammogram(path, downsample=4)
    y0, x0, y1, x1 = meta["crop_box"]
    assert image.shape == (-(-(y1 - y0) // 4), -(-(x1 - x0) // 4))


def test_a_file_without_spacing_is_read_at_an_assumed_one_that_the_meta_names(tmp_path: Path, breast) -> None:
    path = write_mammogram_dicom(tmp_path / "nospacing.dcm", breast[0], pixel_spacing=None)
    # no archive recognised: the common 0.07 mm detector pitch, so 0.2 mm asked is a scale of 0.07 / 0.2
    image, meta = read_mammogram(path, spacing=0.2)
    assert meta["pixel_spacing"] is None and meta["scale"] == pytest.approx(0.35)
    assert meta["assumed_pixel_spacing"] == 0.07 and "70 µm" in meta["spacing_source"]
    # the user's spacing replaces the assumption; an explicit downsample factor replaces both
    meta = read_mammogram(path, spacing=0.2, assumed_spacing=0.05)[1]
    assert (meta["scale"], meta["assumed_pixel_spacing"], meta["spacing_source"]) == (pytest.approx(0.25), 0.05, "given")
    image, meta = read_mammogram(path, spacing=0.2, downsample=2)
    assert meta["scale"] == pytest.approx(0.5) and meta["assumed_pixel_spacing"] is None
    # a file that states its spacing is read at it, whatever is assumed for others
    stated = write_mammogram_dicom(tmp_path / "stated.dcm", breast[0], pixel_spacing=0.1)
    meta = read_mammogram(stated, spacing=0.2, assumed_spacing=0.05)[1]
    assert meta["scale"] == pytest.approx(0.5) and meta["assumed_pixel_spacing"] is None
    with pytest.raises(ValueError, match="assumed_pixel_spacing must be a positive"):
        read_mammogram(path, spacing=0.2, assumed_spacing=0)


def test_cbis_ddsm_files_assume_the_ddsm_digitisers_spacing_and_the_warning_names_it(tmp_path: Path, breast) -> None:
    folder = tmp_path / "Calc-Test_P_00038_LEFT_CC" / "08-29-2017-DDSM-96628" / "1.000000-full mammogram images-1"
    folder.mkdir(parents=True)
    by_folder = write_mammogram_dicom(folder / "1-1.dcm", breast[0], pixel_spacing=None)
    by_tag = retag(write_mammogram_dicom(tmp_path / "1-1.dcm", breast[0], pixel_spacing=None),
                   PatientID="Calc-Test_P_00038_LEFT_CC")
    for path in (by_folder, by_tag):
        meta = read_mammogram(path, spacing=0.5)[1]
        assert meta["assumed_pixel_spacing"] == DDSM_DIGITISER_SPACING_MM == 0.0435
        assert meta["scale"] == pytest.approx(0.0435 / 0.5) and "DDSM digitisers" in meta["spacing_source"]
    warning = assumed_spacing_warning([(0.0435, meta["spacing_source"])] * 3 + [(0.05, "given")])
    assert warning.startswith("3 image(s) state no pixel spacing: read at an assumed 0.0435 mm (CBIS-DDSM")
    assert warning.endswith("give the right one with --assumed_pixel_spacing MM")
    assert assumed_spacing_warning([(0.05, "given")]) is None


def test_segment_and_crop_switches(tmp_path: Path, breast) -> None:
    path = write_mammogram_dicom(tmp_path / "s.dcm", breast[0])
    image, meta = read_mammogram(path, crop=False)
    assert image.shape == SHAPE and meta["crop_box"] == (0, 0, *SHAPE)
    assert 0.2 < meta["mask"].mean() < 0.8
    image, meta = read_mammogram(path, segment=False)
    assert image.shape == SHAPE and meta["mask"].all() and meta["crop_box"] == (0, 0, *SHAPE)


@pytest.mark.parametrize("bits", [8, 16])
def test_png_input(tmp_path: Path, breast, reference, bits: int) -> None:
    dtype = np.uint8 if bits == 8 else np.uint16
    path = tmp_path / f"case_{bits}_L_CC.png"
    Image.fromarray(np.round(breast[0] * np.iinfo(dtype).max).astype(dtype)).save(path)
    image, meta = read_mammogram(path)
    assert (meta["laterality"], meta["view"], meta["pixel_spacing"]) == ("L", "CC", None)
    assert image.shape == reference[0].shape
    assert np.abs(image - reference[0]).mean() < 0.01
    assert read_mammogram(path, spacing=0.2)[1]["assumed_pixel_spacing"] == 0.07  # PNG states no spacing


def test_png_without_name_needs_arguments(tmp_path: Path, breast) -> None:
    path = tmp_path / "image0001.png"
    Image.fromarray(np.round(breast[0] * 255).astype(np.uint8)).save(path)
    with pytest.raises(MammogramReadError, match="laterality not found in file name"):
        read_mammogram(path)
    assert read_mammogram(path, laterality="R", view="MLO")[1]["view"] == "MLO"


def test_nifti_input_is_transposed_to_rows_first(tmp_path: Path, breast, reference) -> None:
    values = np.round(breast[0] * 4095).astype(np.uint16)
    nifti = nib.Nifti1Image(values.T, affine=np.diag([0.1, 0.1, 1.0, 1.0]))  # NIfTI axes are (x, y)
    nifti.header.set_xyzt_units("mm")
    path = tmp_path / "case_L_CC.nii.gz"
    nib.save(nifti, path)
    image, meta = read_mammogram(path)
    assert meta["original_shape"] == SHAPE and meta["pixel_spacing"] == pytest.approx(0.1)
    np.testing.assert_allclose(image, reference[0], atol=1e-6)


def test_reading_never_changes_the_file(tmp_path: Path, breast) -> None:
    paths = [
        write_mammogram_dicom(tmp_path / "a.dcm", breast[0], photometric="MONOCHROME1", garbage_high_bits=True),
        write_mammogram_dicom(tmp_path / "b.dcm", breast[0], transfer_syntax=JPEG2000Lossless),
    ]
    Image.fromarray(np.round(breast[0] * 255).astype(np.uint8)).save(tmp_path / "c_R_MLO.png")
    paths.append(tmp_path / "c_R_MLO.png")
    before = [sha256(p) for p in paths]
    for path in paths:
        read_mammogram(path, downsample=2)
    assert [sha256(p) for p in paths] == before


def test_monai_transforms(tmp_path: Path, breast, reference) -> None:
    path = write_mammogram_dicom(tmp_path / "t_L.dcm", breast[0], laterality_in=None)  # "L": a last-resort hint
    image, meta = LoadMammogram()(path)
    assert image.shape == (1, *reference[0].shape) and image.dtype == np.float32
    data = LoadMammogramd(keys="image", laterality_key="side")({"image": str(path), "side": "R"})
    assert data["image"].shape == (1, *reference[0].shape)
    assert data["image_meta_dict"]["laterality"] == "R" and data["side"] == "R"
    data = LoadMammogramd(keys=["image", "other"], downsample=2, meta_key_postfix="meta", allow_missing_keys=True)(
        {"image": path}
    )
    assert data["image_meta"]["scale"] == 0.5 and "other" not in data
    with pytest.raises(KeyError):
        LoadMammogramd(keys="other")({"image": path})


def test_detector_sized_dicom_is_downsampled(tmp_path: Path, breast) -> None:
    big = np.kron(breast[0], np.ones((12, 12)))[:3000, :2400]  # 3072 x 2400 -> a 3000 x 2400 detector image
    path = write_mammogram_dicom(tmp_path / "big.dcm", big, bits_stored=14)
    image, meta = read_mammogram(path, downsample=8)
    assert meta["original_shape"] == (3000, 2400) and meta["scale"] == 0.125
