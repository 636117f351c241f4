"""The frozen benchmark's data sets: generated once, reused, and never mistaken for a set of other fields."""

from __future__ import annotations

import pytest

from custom.mammography.data.source import MammoDataSource, benchmark_source
from custom.mammography.data.synthetic import SYNTHETIC_VERSION, benchmark
from custom.mammography.data.synthetic.benchmark import SyntheticSet, ensure_synthetic_set


def test_a_set_is_generated_once_and_a_folder_made_for_other_fields_is_refused(tmp_path):
    small = SyntheticSet("evaluation", studies=2, seed=1, test_fraction=1.0, finding_fraction=0.5, preset="test")
    folder = ensure_synthetic_set(small, tmp_path, progress=False)
    images = sorted(folder.rglob("*.dicom"))
    stamps = [path.stat().st_mtime_ns for path in images]
    assert len(images) == 8
    assert ensure_synthetic_set(small, tmp_path, progress=False) == folder
    assert [path.stat().st_mtime_ns for path in images] == stamps  # reused, not regenerated

    larger = SyntheticSet("evaluation", studies=3, seed=1, test_fraction=1.0, finding_fraction=0.5, preset="test")
    with pytest.raises(ValueError, match='marker does not describe .*studies=3.*"studies": 2'):
        ensure_synthetic_set(larger, tmp_path, progress=False)
    assert sorted(folder.rglob("*.dicom")) == images

    (folder / "COMPLETE").write_text("")  # a marker emptied by a crash names what it is
    with pytest.raises(ValueError, match="it reads nothing"):
        ensure_synthetic_set(small, tmp_path, progress=False)
    (folder / "COMPLETE").write_text(f"synthetic_version {SYNTHETIC_VERSION}\n")  # an old marker: not trusted here
    with pytest.raises(ValueError, match="marker does not describe"):
        ensure_synthetic_set(small, tmp_path, progress=False)


def test_built_in_synthetic_data_is_probed_on_the_evaluation_set_even_when_probed_before_training(tmp_path):
    # the comparison builds its probe set first: the folder is still empty then, and must not read as real data
    source = MammoDataSource(tmp_path / "empty", cache_dir=str(tmp_path / "cache"), synthetic_studies=4,
                             synthetic_preset="test", num_workers=0)
    probed = {exam.patient_id for exam in source.probe_exams(("val", "test"))}
    evaluation = benchmark_source(benchmark.EVALUATION_SET, num_workers=0)  # the tiny set of conftest.py
    assert probed == {exam.patient_id for exam in evaluation.exams_of("test")}
    assert probed.isdisjoint(exam.patient_id for exam in source.exams)
