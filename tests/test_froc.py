"""FROC and exam-level AUC of lesion candidates: hit rule, curve, operating points, patient bootstrap, reports."""

import csv
import json
from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from custom.evaluation.froc import (
    REPORT_COLUMNS,
    ExamScore,
    ImageDetections,
    candidate_hits,
    evaluate_detection,
    exam_auc,
    froc_at,
    froc_curve,
    sensitivity_at,
    write_detection_report,
)
from custom.evaluation.froc_plots import plot_froc


def _hand_made_images():
    """2 images, 3 findings; by score: TP .9, FP .8, TP .7, FP .6, (second hit on F1 at .3), TP .2, FP .1."""
    image_a = ImageDetections(
        "a",
        "p1",
        boxes=[[0, 0, 10, 10], [50, 50, 60, 60], [1, 1, 9, 9], [102, 102, 108, 108]],
        scores=[0.9, 0.8, 0.3, 0.2],
        findings=[[0, 0, 10, 10], [100, 100, 110, 110]],
    )
    image_b = ImageDetections(
        "b",
        "p2",
        boxes=[[20, 20, 30, 30], [70, 70, 80, 80], [200, 200, 210, 210]],
        scores=[0.7, 0.6, 0.1],
        findings=[[20, 20, 30, 30]],
    )
    return [image_a, image_b]


def test_hand_made_froc_curve_and_operating_points():
    curve = froc_curve(_hand_made_images())
    np.testing.assert_allclose(curve.fp_per_image, [0, 0, 0.5, 0.5, 1, 1, 1.5])
    np.testing.assert_allclose(curve.sensitivity, [0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1, 1])
    np.testing.assert_allclose(curve.thresholds, [np.inf, 0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    np.testing.assert_allclose(sensitivity_at(curve, [0.25, 0.5, 1, 2, 4]), [1 / 3, 2 / 3, 1, 1, 1])

    result = froc_at(_hand_made_images(), n_bootstrap=50)
    assert result.fp_rates == (0.25, 0.5, 1.0, 2.0, 4.0)
    assert [m.value for m in result.sensitivity] == pytest.approx([1 / 3, 2 / 3, 1, 1, 1])
    assert result.mean_sensitivity.value == pytest.approx(0.8)
    counts = (result.n_images, result.n_patients, result.n_findings, result.n_candidates)
    assert counts == (2, 2, 3, 7) and result.n_false_positive_candidates == 3


def test_normal_images_count_in_false_positives_per_image():
    normal = ImageDetections("c", "p3")
    curve = froc_curve([*_hand_made_images(), normal])
    np.testing.assert_allclose(curve.fp_per_image, [0, 0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    # reaching the last finding (score .2) costs 2 FP: 1 per image on two images, 2/3 on three
    assert sensitivity_at(froc_curve(_hand_made_images()), [0.7])[0] == pytest.approx(2 / 3)
    assert sensitivity_at(curve, [0.7])[0] == pytest.approx(1.0)


def test_centre_inside_rule_alone():
    finding = [[0, 0, 100, 100]]
    small_inside = [40, 40, 50, 50]  # IoU 0.01, centre inside
    centre_on_border = [95, 40, 105, 50]  # IoU < 0.3, centre exactly on the right border
    small_outside = [101, 40, 111, 50]
    np.testing.assert_array_equal(
        candidate_hits([small_inside, centre_on_border, small_outside], finding)[:, 0], [True, True, False]
    )
    curve = froc_curve([ImageDetections("a", "p", boxes=[small_inside], scores=[0.5], findings=finding)])
    assert (curve.sensitivity[-1], curve.fp_per_image[-1]) == (1.0, 0.0)


def test_iou_rule_alone():
    finding = [[0, 0, 10, 10]]
    overlapping = [4.5, 0, 15.7, 10]  # centre x 10.1 is outside; IoU 55 / 157 = 0.35
    just_below = [5, 0, 17, 10]  # centre x 11 is outside; IoU 50 / 170 = 0.29
    np.testing.assert_array_equal(candidate_hits([overlapping, just_below], finding)[:, 0], [True, False])
    np.testing.assert_array_equal(candidate_hits([overlapping], finding, iou_threshold=0.4), [[False]])
    curve = froc_curve([ImageDetections("a", "p", boxes=[just_below], scores=[0.5], findings=finding)])
    assert (curve.sensitivity[-1], curve.fp_per_image[-1]) == (0.0, 1.0)


def test_double_hits_count_once_and_are_not_false_positives():
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [2, 2, 9, 9]]
    image = ImageDetections("a", "p", boxes=boxes, scores=[0.9, 0.8, 0.7], findings=[[0, 0, 10, 10]])
    curve = froc_curve([image])
    np.testing.assert_allclose(curve.sensitivity, [0, 1])
    np.testing.assert_allclose(curve.fp_per_image, [0, 0])


def test_one_candidate_detects_overlapping_findings():
    image = ImageDetections("a", "p", boxes=[[0, 0, 10, 10]], scores=[0.5], findings=[[0, 0, 10, 10], [2, 2, 8, 8]])
    assert froc_curve([image]).sensitivity[-1] == 1.0


def test_tied_scores_enter_together():
    image = ImageDetections(
        "a", "p", boxes=[[0, 0, 10, 10], [50, 50, 60, 60]], scores=[0.5, 0.5], findings=[[0, 0, 10, 10]]
    )
    curve = froc_curve([image])
    np.testing.assert_allclose(curve.fp_per_image, [0, 1])
    np.testing.assert_allclose(curve.sensitivity, [0, 1])
    assert sensitivity_at(curve, [0.5])[0] == 0.0


def _random_images(n_patients=30, per_patient=2, seed=0, round_scores=False):
    rng = np.random.default_rng(seed)
    images = []
    for p in range(n_patients):
        for v in range(per_patient):
            findings = [[100, 100, 140, 140]] if rng.random() < 0.5 else []
            n = rng.integers(1, 5)
            xy = rng.uniform(0, 300, size=(n, 2))
            boxes = np.c_[xy, xy + 30]
            scores = rng.random(n)
            if findings and rng.random() < 0.7:
                boxes = np.r_[boxes, [[105, 105, 135, 135]]]
                scores = np.r_[scores, rng.uniform(0.3, 1)]
            scores = np.round(scores, 1) if round_scores else scores
            images.append(ImageDetections(f"{p}-{v}", f"p{p}", boxes=boxes, scores=scores, findings=findings))
    return images


def test_operating_points_agree_with_the_curve_on_tied_scores():
    images = _random_images(seed=1, round_scores=True)
    rates = [0.1, 0.25, 0.5, 1, 1.5, 2, 4]
    result = froc_at(images, fp_rates=rates, n_bootstrap=10)
    np.testing.assert_allclose([m.value for m in result.sensitivity], sensitivity_at(froc_curve(images), rates))


def test_ci_contains_the_estimate_and_is_reproducible_with_the_seed():
    images = _random_images()
    result = froc_at(images, n_bootstrap=300, seed=0)
    for m in (*result.sensitivity, result.mean_sensitivity):
        assert m.ci_low <= m.value <= m.ci_high and m.n == len(images)
    assert result.mean_sensitivity.ci_low < result.mean_sensitivity.ci_high
    again = froc_at(images, n_bootstrap=300, seed=0)
    assert (again.sensitivity, again.mean_sensitivity) == (result.sensitivity, result.mean_sensitivity)
    assert froc_at(images, n_bootstrap=300, seed=1).mean_sensitivity != result.mean_sensitivity


def _clustered_images(patient_ids):
    """Patients are all easy (every finding hit at .9) or all hard (finding missed, one FP at .5), 4 images each."""
    images = []
    for index, patient in enumerate(patient_ids):
        easy = int(patient.split("-")[0][1:]) % 2 == 0
        boxes, score = ([[0, 0, 10, 10]], 0.9) if easy else ([[50, 50, 60, 60]], 0.5)
        images.append(ImageDetections(f"i{index}", patient, boxes=boxes, scores=[score], findings=[[0, 0, 10, 10]]))
    return images


def test_patient_bootstrap_moves_a_patients_images_together():
    by_patient = [f"p{p}" for p in range(20) for _ in range(4)]
    by_image = [f"p{p}-{v}" for p in range(20) for v in range(4)]  # every image its own cluster
    per_patient = froc_at(_clustered_images(by_patient), fp_rates=[0.25], n_bootstrap=400).sensitivity[0]
    per_image = froc_at(_clustered_images(by_image), fp_rates=[0.25], n_bootstrap=400).sensitivity[0]
    assert per_patient.value == per_image.value == 0.5
    assert per_patient.ci_high - per_patient.ci_low > 1.5 * (per_image.ci_high - per_image.ci_low)


def test_exam_auc_reuses_roc_auc_with_patient_groups():
    exams = [
        ExamScore("s1", "p1", 0.9, 1),
        ExamScore("s2", "p1", 0.2, 0),
        ExamScore("s3", "p2", 0.6, 1),
        ExamScore("s4", "p3", 0.7, 0),
        {"study_id": "s5", "patient_id": "p4", "score": 0.1, "abnormal": 0},
    ]
    result = exam_auc(exams, n_bootstrap=200)
    assert result.value == pytest.approx(roc_auc_score([1, 0, 1, 0, 0], [0.9, 0.2, 0.6, 0.7, 0.1]))
    assert result.n == 5 and result.ci_low <= result.value <= result.ci_high


@dataclass
class _Candidate:
    box: tuple = (80, 80, 90, 90)
    score: float = 0.1


def test_records_accept_mappings_pairs_candidate_objects_and_manifest_findings():
    record = {
        "image_id": "a",
        "patient_id": "p1",
        "candidates": [{"box": [0, 0, 10, 10], "score": 0.9}, ([50, 50, 60, 60], 0.8), _Candidate()],
        "findings": [{"category": "Mass", "box": [0, 0, 10, 10]}],
    }
    curve = froc_curve([record])
    np.testing.assert_allclose(curve.sensitivity, [0, 1, 1, 1])
    np.testing.assert_allclose(curve.fp_per_image, [0, 0, 1, 2])


def test_report_files_hold_the_expected_columns_and_numbers(tmp_path):
    exams = [ExamScore("s1", "p1", 0.9, 1), ExamScore("s2", "p2", 0.4, 1), ExamScore("s3", "p3", 0.5, 0)]
    result = evaluate_detection(_hand_made_images(), exams, fp_rates=[0.5, 1], n_bootstrap=50)
    json_path, csv_path = write_detection_report(result, tmp_path / "out", "siamese")
    assert (json_path.name, csv_path.name) == ("siamese.json", "siamese.csv")
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == REPORT_COLUMNS
    assert [(r["metric"], r["fp_per_image"]) for r in rows] == [
        ("sensitivity", "0.5"),
        ("sensitivity", "1.0"),
        ("mean_sensitivity", ""),
        ("exam_auc", ""),
    ]
    assert [float(r["value"]) for r in rows] == pytest.approx([2 / 3, 1, 5 / 6, 0.5])
    assert rows[-1]["n"] == "3"
    report = json.loads(json_path.read_text())
    assert report["name"] == "siamese" and report["counts"]["findings"] == 3
    assert report["mean_sensitivity"]["value"] == pytest.approx(5 / 6)
    assert report["curve"]["thresholds"][0] is None and len(report["curve"]["sensitivity"]) == 7

    write_detection_report(evaluate_detection(_hand_made_images(), n_bootstrap=20), tmp_path, "no_exams")
    with open(tmp_path / "no_exams.csv", newline="") as f:
        assert [r["metric"] for r in csv.DictReader(f)][-1] == "mean_sensitivity"
    assert json.loads((tmp_path / "no_exams.json").read_text())["exam_auc"] is None


def test_plot_froc_writes_a_png(tmp_path):
    curve = froc_curve(_hand_made_images())
    weaker = curve._replace(sensitivity=curve.sensitivity / 2)
    path = plot_froc({"siamese": curve, "raw_pixel": weaker}, tmp_path / "figs" / "froc.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no FROC curve"):
        plot_froc({}, tmp_path / "empty.png")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: froc_curve([]), "no images"),
        (lambda: ImageDetections("x1", "p", boxes=[[10, 0, 5, 10]], scores=[0.5]), "'x1' candidates.*malformed"),
        (lambda: ImageDetections("x2", "p", findings=[[0, 10, 5, 2]]), "'x2' findings.*malformed"),
        (lambda: ImageDetections("x3", "p", boxes=[[0, 0, 5, 5]], scores=[np.nan]), "'x3'.*finite"),
        (lambda: ImageDetections("x4", "p", boxes=[[0, 0, 5, 5]], scores=[0.1, 0.2]), "1 candidate boxes but 2"),
        (lambda: ImageDetections("x5", "p", boxes=[[0, 0, 5]], scores=[0.1]), r"\(n, 4\)"),
        (lambda: froc_curve([ImageDetections("a", "p"), ImageDetections("b", "q")]), "none of the 2 images"),
        (lambda: froc_curve(_hand_made_images() * 2), "unique"),
        (lambda: froc_curve([{"image_id": "a"}]), "lacks \\['patient_id'\\]"),
        (lambda: froc_at(_hand_made_images(), fp_rates=[0, 1]), "fp_rates"),
        (lambda: ExamScore("s", "p", float("nan"), 1), "finite"),
        (lambda: ExamScore("s", "p", 0.5, 2), "0 or 1"),
        (lambda: exam_auc([]), "no exams"),
    ],
)
def test_bad_inputs_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_report_name_must_be_a_file_stem(tmp_path):
    result = evaluate_detection(_hand_made_images(), n_bootstrap=10)
    with pytest.raises(ValueError, match="name"):
        write_detection_report(result, tmp_path, "sub/dir")


def _simulated_detectors(seed: int = 0, n_patients: int = 60):
    """Per patient one breast image (half hold a finding at (40, 40)) and one exam; detector "good" puts a
    candidate on every finding with a high score, detector "poor" scores its hit at chance level."""
    rng = np.random.default_rng(seed)
    good_images, poor_images, good_exams, poor_exams = [], [], [], []
    for p in range(n_patients):
        lesion = p % 2 == 0
        findings = [[30, 30, 50, 50]] if lesion else []
        false_box = [[200, 200, 220, 220]]
        noise = float(rng.random())
        good_images.append(ImageDetections(f"i{p}", f"p{p}", boxes=[[32, 32, 48, 48]] + false_box,
                                           scores=[0.9 if lesion else 0.1, noise * 0.5], findings=findings))
        poor_images.append(ImageDetections(f"i{p}", f"p{p}", boxes=[[32, 32, 48, 48]] + false_box,
                                           scores=[float(rng.random()), noise], findings=findings))
        good_exams.append(ExamScore(f"s{p}", f"p{p}", 0.9 if lesion else noise * 0.5, int(lesion)))
        poor_exams.append(ExamScore(f"s{p}", f"p{p}", float(rng.random()), int(lesion)))
    return good_images, good_exams, poor_images, poor_exams


def test_paired_detection_differences():
    from custom.evaluation.froc import paired_detection_differences

    good_images, good_exams, poor_images, poor_exams = _simulated_detectors()
    same = paired_detection_differences(good_images, good_exams, good_images, good_exams, n_bootstrap=200)
    for metric in same.values():
        assert (metric.value, metric.ci_low, metric.ci_high) == (0.0, 0.0, 0.0)
    better = paired_detection_differences(good_images, good_exams, poor_images, poor_exams, n_bootstrap=200)
    assert better["exam_auc"].value == pytest.approx(
        exam_auc(good_exams, n_bootstrap=20).value - exam_auc(poor_exams, n_bootstrap=20).value)
    assert better["exam_auc"].ci_low > 0 and better["sensitivity_at_1fp"].ci_low > 0
    with pytest.raises(ValueError, match="same images"):
        paired_detection_differences(good_images, good_exams, poor_images[:-1], poor_exams, n_bootstrap=20)
