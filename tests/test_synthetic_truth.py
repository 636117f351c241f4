"""The VinDr reader on the synthetic generator's output: boxes and labels match the generator's truth."""

from __future__ import annotations

import numpy as np
import pytest

from custom.mammography.data.manifest import build_manifest, findings_of
from custom.mammography.data.synthetic import plan_studies, render_study
from tests.conftest import SYNTHETIC_SEED, SYNTHETIC_STUDIES


@pytest.fixture(scope="module")
def manifest(synthetic_vindr):
    return build_manifest("vindr", synthetic_vindr, seed=0)


def test_manifest_boxes_match_the_generator(manifest):
    plans = plan_studies(SYNTHETIC_STUDIES, SYNTHETIC_SEED, preset="test")
    checked = 0
    for plan in plans:
        breasts = render_study(plan)
        rows = manifest[manifest.study_id == plan.study_id]
        assert len(rows) == 4
        for row in rows.itertuples():
            truth = breasts[(row.laterality, row.view)]
            width = truth.image.shape[1]
            expected = []
            for y0, x0, y1, x1 in truth.boxes:
                if row.laterality == "R":  # stored as displayed: the right breast's chest wall on the right
                    x0, x1 = width - x1, width - x0
                expected.append([x0, y0, x1, y1])
            found = sorted({tuple(f["box"]) for f in findings_of(row._asdict())})
            assert len(found) == len(expected), (plan.study_id, row.laterality, row.view)
            for box, truth_box in zip(found, sorted(map(tuple, expected))):
                np.testing.assert_allclose(box, truth_box, atol=1.0)
                checked += 1
    assert checked >= 4


def test_manifest_labels_match_the_plan(manifest):
    for plan in plan_studies(SYNTHETIC_STUDIES, SYNTHETIC_SEED, preset="test"):
        rows = manifest[manifest.study_id == plan.study_id]
        assert set(rows.split) == {"test"} if plan.split == "test" else set(rows.split) <= {"train", "val"}
        for row in rows.itertuples():
            assert row.breast_birads == plan.birads[row.laterality]
            has_finding = bool(findings_of(row._asdict()))
            assert has_finding == (plan.finding is not None and plan.finding_side == row.laterality)


def test_the_manifest_names_the_generator_version(manifest, synthetic_vindr):
    from custom.mammography.data.synthetic import SYNTHETIC_VERSION, synthetic_version_of

    assert synthetic_version_of(synthetic_vindr) == SYNTHETIC_VERSION
    assert set(manifest["dataset"]) == {f"synthetic-v{SYNTHETIC_VERSION}"}
    assert synthetic_version_of(synthetic_vindr / "images") is None
