"""Output <-> original coordinates: exact inverses, and true to where the reader puts the pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from custom.mammography.data.geometry import (
    box_original_to_output,
    box_output_to_original,
    original_to_output,
    output_to_original,
)
from custom.mammography.data.reader import read_mammogram
from tests.dicom_factory import synthetic_breast, write_mammogram_dicom


def make_meta(flipped: bool, crop_box: tuple[int, int, int, int], scale: float) -> dict:
    return {"original_shape": (256, 200), "flipped": flipped, "crop_box": crop_box, "scale": scale}


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.37, 1.6])
@pytest.mark.parametrize("crop_box", [(0, 0, 256, 200), (20, 30, 230, 170)])
@pytest.mark.parametrize("flipped", [False, True])
def test_points_and_boxes_round_trip(flipped: bool, crop_box: tuple[int, int, int, int], scale: float) -> None:
    meta = make_meta(flipped, crop_box, scale)
    points = np.random.default_rng(0).uniform([0, 0], [200, 256], size=(20, 2))
    np.testing.assert_allclose(output_to_original(original_to_output(points, meta), meta), points, atol=1e-9)
    box = (35.5, 60.0, 90.25, 141.0)
    out_box = box_original_to_output(box, meta)
    assert out_box[0] < out_box[2] and out_box[1] < out_box[3]
    np.testing.assert_allclose(box_output_to_original(out_box, meta), box, atol=1e-9)


def test_known_values() -> None:
    meta = make_meta(True, (20, 30, 230, 170), 0.5)
    # x: 200 - 10 = 190 after the flip, 160 after the crop, 80 after scaling; y: (40 - 20) * 0.5.
    np.testing.assert_allclose(original_to_output([[10.0, 40.0]], meta), [[80.0, 10.0]])
    assert box_original_to_output((10, 40, 50, 60), meta) == (60.0, 10.0, 80.0, 20.0)
    meta = make_meta(False, (20, 30, 230, 170), 2.0)
    np.testing.assert_allclose(output_to_original([[10.0, 4.0]], meta), [[35.0, 22.0]])


def test_points_must_be_xy_pairs() -> None:
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        original_to_output([1.0, 2.0, 3.0], make_meta(False, (0, 0, 256, 200), 1.0))


BOX = (40, 96, 72, 128)  # xmin, ymin, xmax, ymax of a bright square drawn inside the breast


def bright_box_file(path: Path, chest_wall: str) -> Path:
    image, _ = synthetic_breast((256, 200), chest_wall=chest_wall, seed=5)
    image = 0.8 * image
    xmin, ymin, xmax, ymax = BOX
    if chest_wall == "right":
        xmin, xmax = 200 - xmax, 200 - xmin
    image[ymin:ymax, xmin:xmax] = 1.0
    return write_mammogram_dicom(path, image, pixel_spacing=0.1)


@pytest.mark.parametrize("resample", [{"downsample": 2}, {"spacing": 0.25}, {}])
@pytest.mark.parametrize("chest_wall", ["left", "right"])
def test_box_drawn_in_original_maps_to_output_and_back(tmp_path: Path, chest_wall: str, resample: dict) -> None:
    path = bright_box_file(tmp_path / "box.dcm", chest_wall)
    image, meta = read_mammogram(path, **resample)
    assert meta["flipped"] == (chest_wall == "right")
    assert meta["crop_box"] != (0, 0, 256, 200)
    xmin, xmax = BOX[0], BOX[2]
    if chest_wall == "right":
        xmin, xmax = 200 - xmax, 200 - xmin
    drawn = (xmin, BOX[1], xmax, BOX[3])  # original pixel edges

    rows, cols = np.nonzero(image > 0.95)
    found = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)  # output pixel edges
    np.testing.assert_allclose(box_original_to_output(drawn, meta), found, atol=1.0)
    np.testing.assert_allclose(box_output_to_original(found, meta), drawn, atol=1.0 / meta["scale"])
