"""Aligned-exam cache, contralateral pair dataset and labelled patches on synthetic exams."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import custom.mammography.data.exam_cache as exam_cache
from custom.mammography.data.alignment import align_masks, mask_iou
from custom.mammography.data.exam_cache import prepare_exams
from custom.mammography.data.manifest import build_manifest
from custom.mammography.data.pair_dataset import (
    WEAK_NORMAL, WEAK_UNKNOWN, ContralateralPairDataset, LabelledPatchDataset, _cut, _one_per_lesion,
)
from custom.skip_report import SkipReport


@pytest.fixture(scope="module")
def manifest(synthetic_vindr):
    return build_manifest("vindr", synthetic_vindr, seed=0)


@pytest.fixture(scope="module")
def exams(manifest, tmp_path_factory):
    return prepare_exams(manifest, tmp_path_factory.mktemp("cache"), spacing=0.5, progress=False)


def _tree_digest(root) -> str:
    digest = hashlib.sha1()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_every_study_view_is_cached_and_aligned(manifest, exams):
    assert len(exams) == manifest.groupby(["study_id", "view"]).ngroups
    for exam in exams:
        stack = exam.load()
        assert stack.shape == (4, *exam.shape) and stack.dtype == np.float16
        reference_mask, aligned_mask = stack[2] > 0.5, stack[3] > 0.5
        assert mask_iou(reference_mask, aligned_mask) >= 0.8, exam.study_id


def test_mask_affine_beats_mirroring_alone(manifest, exams, tmp_path):
    """The default alignment must overlap the breasts at least as well as mirroring alone, on average."""
    mirrored = prepare_exams(manifest, tmp_path / "none", spacing=0.5, registration="none", progress=False)

    def mean_iou(records):
        return np.mean([mask_iou(r.load()[2] > 0.5, r.load()[3] > 0.5) for r in records])

    assert mean_iou(exams) >= mean_iou(mirrored)
    assert mean_iou(exams) >= 0.9


def test_align_masks_recovers_a_known_scale_and_shift():
    reference = np.zeros((200, 160), bool)
    reference[40:160, 0:100] = True
    moving = np.zeros((200, 160), bool)
    moving[50:110, 0:50] = True  # half the size, shifted
    affine = align_masks(reference, moving)
    aligned = affine.warp(moving.astype(np.float32), reference.shape, order=0) > 0.5
    assert affine.scale == pytest.approx((2.0, 2.0), rel=0.05)
    assert mask_iou(reference, aligned) > 0.9


def test_findings_land_in_the_reference_frame(exams):
    findings = [(exam, f) for exam in exams for f in exam.findings]
    assert findings, "the synthetic set must contain findings"
    for exam, finding in findings:
        xmin, ymin, xmax, ymax = finding["box"]
        assert 0 <= xmin < xmax <= exam.shape[1] + 1 and 0 <= ymin < ymax <= exam.shape[0] + 1
        assert finding["side"] in ("L", "R")


def test_second_run_reads_no_dicom(manifest, exams, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = prepare_exams(manifest, cache, spacing=0.5, progress=False)

    def no_reading(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(exam_cache, "read_mammogram", no_reading)
    second = prepare_exams(manifest, cache, spacing=0.5, progress=False)
    assert [e.key for e in first] == [e.key for e in second]


def test_pair_dataset_is_deterministic_and_weakly_labelled(exams):
    one = ContralateralPairDataset(exams, patch_size=64, pairs_per_exam=6, seed=5)
    two = ContralateralPairDataset(exams, patch_size=64, pairs_per_exam=6, seed=5)
    other = ContralateralPairDataset(exams, patch_size=64, pairs_per_exam=6, seed=6)
    np.testing.assert_array_equal(one.patches, two.patches)
    assert not np.array_equal(one.table, other.table)

    item = one[0]
    assert item["image_a"].shape == (1, 64, 64) and item["image_b"].shape == (1, 64, 64)
    for index, (exam_index, *_rest) in enumerate(one.table):
        expected = WEAK_NORMAL if exams[exam_index].is_normal_pair else WEAK_UNKNOWN
        assert one.weak_labels[index] == expected
    assert set(np.unique(one.weak_labels)) == {WEAK_NORMAL, WEAK_UNKNOWN}
    assert one.truth[one.weak_labels == WEAK_NORMAL].sum() == 0  # normal studies hold no lesion

    unsupervised = ContralateralPairDataset(exams, patch_size=64, pairs_per_exam=6, seed=5, supervision="none")
    assert (unsupervised.weak_labels == WEAK_UNKNOWN).all()


def test_candidate_exams_can_contribute_more_pairs(exams):
    plain = ContralateralPairDataset(exams, patch_size=64, pairs_per_exam=4, seed=5)
    more = ContralateralPairDataset(exams, patch_size=64, pairs_per_exam=4, seed=5, candidate_pairs_per_exam=12)
    per_exam = lambda ds, weak: np.bincount(ds.table[ds.weak_labels == weak, 0], minlength=len(exams))  # noqa: E731
    np.testing.assert_array_equal(per_exam(plain, WEAK_NORMAL), per_exam(more, WEAK_NORMAL))
    candidates = [i for i, exam in enumerate(exams) if not exam.is_normal_pair]
    assert (per_exam(plain, WEAK_UNKNOWN)[candidates] <= 4).all()
    assert per_exam(more, WEAK_UNKNOWN)[candidates].max() == 12
    assert more.truth.sum() > plain.truth.sum()  # more candidate pairs, more of them on the lesion


def test_labelled_patches_carry_finding_labels(exams):
    patches = LabelledPatchDataset(exams, patch_size=64, normal_per_exam=2, seed=0)
    # one patch per lesion: a mass with calcifications is annotated twice with one box
    n_lesions = sum(len({(f["side"], tuple(f["box"])) for f in exam.findings}) for exam in exams)
    assert n_lesions < sum(len(exam.findings) for exam in exams), "the fixture should hold a doubly annotated lesion"
    assert patches.abnormal.sum() == n_lesions
    assert set(patches.category[patches.abnormal == 1]) <= {"Mass", "Suspicious Calcification",
                                                            "Architectural Distortion"}
    assert set(patches.control[patches.abnormal == 0]) == {"normal_exams"}
    assert (patches.malignant[patches.abnormal == 0] == -1).all()
    assert set(patches.malignant[patches.abnormal == 1]) <= {0, 1, -1}
    assert (patches.birads[patches.abnormal == 1] >= 3).all()
    item = patches[0]
    assert item["image"].shape == (1, 64, 64) and isinstance(item["patient_id"], str)


def test_contralateral_controls_are_the_aligned_place_of_the_other_breast(exams):
    matched = LabelledPatchDataset(exams, patch_size=64, seed=0, controls="contralateral")
    lesions = [(exam, finding) for exam in exams for finding in _one_per_lesion(exam.findings)]
    assert matched.abnormal.sum() == len(lesions)
    controls = np.flatnonzero(matched.abnormal == 0)
    assert 0 < len(controls) <= len(lesions)  # none from normal exams; at most one per finding
    index = 0
    for exam, finding in lesions:  # items come in finding order, each lesion followed by its control
        stack = exam.load()
        assert matched.abnormal[index] == 1
        if index + 1 < len(matched) and matched.abnormal[index + 1] == 0:
            xmin, ymin, xmax, ymax = finding["box"]
            y, x = int(round((ymin + ymax) / 2)), int(round((xmin + xmax) / 2))
            other = 1 if finding["side"] == "L" else 0
            assert stack[2 + other, y, x] > 0.5
            np.testing.assert_array_equal(matched.patches[index + 1], _cut(stack[other], y, x, 64).astype(np.float16))
            assert matched.patient_ids[index + 1] == matched.patient_ids[index] == exam.patient_id
            assert matched.malignant[index + 1] == -1
            index += 1
        index += 1
    assert index == len(matched)
    with pytest.raises(ValueError, match="controls must be one of"):
        LabelledPatchDataset(exams, patch_size=64, controls="nearby")


def test_both_kinds_of_controls_hold_each_kind_set_row_for_row(exams):
    # the comparison embeds one "both" set and probes its two subsets: they must be the sets built apart
    both = LabelledPatchDataset(exams, patch_size=64, seed=0, controls="both")
    for controls, other in (("normal_exams", "contralateral"), ("contralateral", "normal_exams")):
        alone = LabelledPatchDataset(exams, patch_size=64, seed=0, controls=controls)
        keep = both.control != other
        assert keep.sum() == len(alone) < len(both)
        np.testing.assert_array_equal(both.patches[keep], alone.patches)
        for column in ("abnormal", "birads", "malignant", "patient_ids", "control"):
            np.testing.assert_array_equal(getattr(both, column)[keep], getattr(alone, column))


def test_single_breast_and_unreadable_images_are_skipped_and_counted(synthetic_vindr, manifest, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(synthetic_vindr, root)
    table = build_manifest("vindr", root, seed=0)
    before = _tree_digest(root)
    mastectomy = table.iloc[[0]].study_id.item()
    table = table[~((table.study_id == mastectomy) & (table.laterality == "R"))]
    broken = table[table.study_id != mastectomy].iloc[0]
    broken_copy = tmp_path / "broken.dicom"
    broken_copy.write_bytes(open(broken.path, "rb").read()[:300])  # truncated copy; the data set is untouched
    table.loc[broken.name, "path"] = str(broken_copy)

    report = SkipReport()
    exams = prepare_exams(table, tmp_path / "cache", spacing=0.5, report=report, progress=False)
    problems = [problem for _, problem in report.items]
    assert sum("unpaired study" in p for p in problems) == 2  # CC and MLO of the one-breast study
    assert [path for path, problem in report.items if "exam not usable" in problem] == [str(broken_copy)]
    expected = table.groupby(["study_id", "view"]).ngroups - 2 - 1
    assert len(exams) == expected
    assert "skipped" in report.summary()
    assert _tree_digest(root) == before


def test_empty_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="empty"):
        ContralateralPairDataset([], patch_size=32)
    with pytest.raises(ValueError, match="registration"):
        prepare_exams(pd.DataFrame(columns=["study_id", "view", "laterality", "path"]), "/tmp/x", registration="elastic")


def test_intensity_registration_option_keeps_the_breasts_aligned(manifest, tmp_path):
    first_studies = manifest[manifest.study_id.isin(manifest.study_id.unique()[:3])]
    records = prepare_exams(first_studies, tmp_path / "sitk", spacing=0.5, registration="intensity", progress=False)
    assert len(records) == 6
    for record in records:
        stack = record.load()
        assert mask_iou(stack[2] > 0.5, stack[3] > 0.5) >= 0.8


def test_cache_is_found_from_another_working_directory(manifest, tmp_path, monkeypatch):
    """A relative cache folder (the bundle's default) must still work when the run starts elsewhere."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = prepare_exams(manifest, "../cache", spacing=0.5, progress=False)
    monkeypatch.chdir(tmp_path / "b")
    moved = prepare_exams(manifest, tmp_path / "cache", spacing=0.5, progress=False)
    assert [r.key for r in moved] == [r.key for r in first]
    assert all(Path(r.array_path).is_absolute() and r.load().shape[0] == 4 for r in moved)


def test_subtraction_sampling_draws_pairs_where_the_breasts_differ(exams):
    """Guided pairs sit where the smoothed breasts differ most, and so on lesions more often (no label used)."""
    uniform = ContralateralPairDataset(exams, patch_size=64, pairs_per_exam=8, seed=0)
    guided = ContralateralPairDataset(exams, patch_size=64, pairs_per_exam=8, seed=0, sampling="subtraction",
                                      uniform_share=0.25)
    assert len(guided) == len(uniform)
    assert np.array_equal(guided.weak_labels, uniform.weak_labels)

    def centre_difference(dataset):
        centre = dataset.patches[:, :, 24:40, 24:40].astype(np.float32).mean(axis=(2, 3))
        return float(np.abs(centre[:, 0] - centre[:, 1]).mean())

    assert centre_difference(guided) > 1.5 * centre_difference(uniform)
    assert guided.truth.sum() > uniform.truth.sum()
    with pytest.raises(ValueError, match="sampling"):
        ContralateralPairDataset(exams, sampling="random")


def test_findings_sampling_is_a_reference_that_centres_candidate_pairs_on_lesions(exams):
    uniform = ContralateralPairDataset(exams, patch_size=64, pairs_per_exam=8, seed=0)
    reference = ContralateralPairDataset(exams, patch_size=64, pairs_per_exam=8, seed=0, sampling="findings",
                                         uniform_share=0.0)
    lesion_exams = np.asarray([bool(exams[i].findings) for i in reference.table[:, 0]])
    assert reference.truth[lesion_exams].all()
    assert reference.truth.sum() > uniform.truth.sum()
