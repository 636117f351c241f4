"""The manifest contract: CSV round trip, value parsers, patient-disjoint splits and the summary."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.manifest import (
    MANIFEST_COLUMNS, assign_patient_splits, findings_of, manifest_frame, read_manifest, summarise, write_manifest,
)
from custom.mammography.data.readers.common import parse_birads, parse_density, parse_laterality, parse_pathology, parse_view


def sample_manifest() -> pd.DataFrame:
    finding = {"category": 'Mass, "spiculated"', "birads": 4, "pathology": "malignant", "box": [1.5, 2.0, 30.0, 40.25]}
    rows = [
        {"dataset": "vindr", "patient_id": "00012", "study_id": "00012", "image_id": "a", "laterality": "L",
         "view": "CC", "path": "/data/a.dicom", "split": "train", "breast_birads": 4, "breast_density": "C",
         "findings": [finding, {**finding, "category": "Asymmetry", "birads": None, "pathology": None}]},
        {"dataset": "vindr", "patient_id": "00012", "study_id": "00012", "image_id": "b", "laterality": "R",
         "view": "MLO", "path": "/data/b.dicom", "split": "test", "breast_birads": None, "breast_density": None,
         "findings": []},
    ]
    return manifest_frame(rows)


def test_manifest_round_trip_keeps_empty_values_and_findings(tmp_path):
    df = sample_manifest()
    write_manifest(df, tmp_path / "out" / "manifest.csv")
    back = read_manifest(tmp_path / "out" / "manifest.csv")
    pd.testing.assert_frame_equal(back, df)
    assert list(back.columns) == MANIFEST_COLUMNS
    assert back.loc[0, "patient_id"] == "00012"  # ids stay strings
    assert back["breast_birads"].dtype == "Int64" and pd.isna(back.loc[1, "breast_birads"])
    assert pd.isna(back.loc[1, "breast_density"])
    assert findings_of(back.iloc[0])[0]["category"] == 'Mass, "spiculated"'
    assert findings_of(back.iloc[0].to_dict())[1] == {"category": "Asymmetry", "birads": None, "pathology": None,
                                                      "box": [1.5, 2.0, 30.0, 40.25]}
    assert findings_of(back.iloc[1]) == []


def test_read_manifest_errors_name_the_file(tmp_path):
    with pytest.raises(MammogramReadError, match="absent.csv"):
        read_manifest(tmp_path / "absent.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(MammogramReadError, match="other.csv.*missing columns"):
        read_manifest(tmp_path / "other.csv")


@pytest.mark.parametrize("text, value", [("BI-RADS 1", 1), ("BI-RADS 5", 5), ("4a", 4), ("4C", 4), ("0", 0),
                                         ("6", 6), ("", None), (None, None)])
def test_parse_birads(text, value):
    assert parse_birads(text) == value


@pytest.mark.parametrize("parse, text", [(parse_birads, "BI-RADS 7"), (parse_birads, "four"),
                                         (parse_density, "DENSITY E"), (parse_density, "5"),
                                         (parse_laterality, "B"), (parse_view, "LM"), (parse_pathology, "UNKNOWN")])
def test_parsers_reject_unknown_values(parse, text):
    with pytest.raises(ValueError):
        parse(text)


def test_value_mappings():
    assert [parse_density(t) for t in ("DENSITY A", "density d", "C", "1", "4", "")] == ["A", "D", "C", "A", "D", None]
    assert [parse_laterality(t) for t in ("L", "left", "RIGHT", "R")] == ["L", "L", "R", "R"]
    assert [parse_view(t) for t in ("CC", "mlo", "ML")] == ["CC", "MLO", "MLO"]
    assert [parse_pathology(t) for t in ("MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK", "")] == [
        "malignant", "benign", "benign", None]


def random_table(rng: np.random.Generator) -> pd.DataFrame:
    """Patients with 1-5 images each and, per scenario, no shipped split, shipped train/test, or a mix."""
    scenario = rng.integers(3)
    rows = []
    for patient in range(int(rng.integers(1, 60))):
        shipped = [None, rng.choice(["train", "test"]), rng.choice([None, "train", "test", "val"])][scenario]
        for image in range(int(rng.integers(1, 6))):
            split = shipped
            if scenario == 2 and rng.random() < 0.05:
                split = "test" if shipped != "test" else "train"  # the same patient shipped in two splits
            rows.append({"patient_id": f"p{patient:03d}", "image_id": f"p{patient}_{image}", "split": split})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", range(25))
def test_assign_patient_splits_properties(seed, caplog):
    df = random_table(np.random.default_rng(1000 + seed))
    with caplog.at_level(logging.WARNING):
        out = assign_patient_splits(df, seed=seed, val_fraction=0.1, test_fraction=0.2)
    again = assign_patient_splits(df, seed=seed, val_fraction=0.1, test_fraction=0.2)
    assert out["split"].tolist() == again["split"].tolist()  # deterministic by seed
    assert out["image_id"].tolist() == df["image_id"].tolist() and set(out["split"]) <= {"train", "val", "test"}
    per_patient = out.groupby("patient_id")["split"].agg(set)
    assert (per_patient.map(len) == 1).all()  # never a patient in two splits
    assigned = per_patient.map(lambda s: next(iter(s)))
    shipped = df.groupby("patient_id")["split"].agg(lambda s: {v for v in s if pd.notna(v)})
    for patient, splits in shipped.items():
        if "test" in splits or len(splits) > 1:
            assert assigned[patient] == "test"
            if len(splits) > 1:
                assert patient in caplog.text
        elif splits == {"val"}:
            assert assigned[patient] == "val"
        elif splits == {"train"}:
            assert assigned[patient] in {"train", "val"}  # val is carved out of shipped training patients
    n = len(shipped)
    if all(not s for s in shipped):  # nothing shipped: the fractions hold exactly (rounded)
        assert (assigned == "test").sum() == round(0.2 * n) and (assigned == "val").sum() == round(0.1 * n)


def test_assign_patient_splits_varies_with_seed_and_can_ignore_shipped_test():
    df = pd.DataFrame({"patient_id": [f"p{i}" for i in range(100)], "split": ["test"] * 30 + ["train"] * 70})
    kept = assign_patient_splits(df, seed=0, val_fraction=0.1, test_fraction=0.2)
    assert (kept["split"][:30] == "test").all() and (kept["split"] == "val").sum() == 10
    redrawn = assign_patient_splits(df, seed=0, val_fraction=0.1, test_fraction=0.2, keep_existing_test=False)
    assert (redrawn["split"] == "test").sum() == 20 and (redrawn["split"][:30] != "test").any()
    other = assign_patient_splits(df, seed=1, val_fraction=0.1, test_fraction=0.2, keep_existing_test=False)
    assert other["split"].tolist() != redrawn["split"].tolist()
    with pytest.raises(ValueError):
        assign_patient_splits(df, seed=0, val_fraction=0.5, test_fraction=0.5)


def test_summarise_counts_splits_and_categories():
    text = summarise(sample_manifest())
    assert "2 images, 1 patients, 1 studies" in text
    assert "train: 1 images" in text and "test : 1 images" in text and "val  : 0 images" in text
    assert "2 findings" in text and "Asymmetry: 1" in text and 'Mass, "spiculated": 1' in text
