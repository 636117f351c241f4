"""Under torchrun each rank prepares its share of the exams into the shared cache: the cache is the one a single
process writes, byte for byte, every rank ends with all the records and skipped inputs, and a resumed preparation
builds no exam twice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from custom.mammography.data import MammoDataSource, build_manifest, exam_cache, prepare_exams
from custom.mammography.data.presets import patch_preset


def _source(data: Path, cache: Path) -> MammoDataSource:
    return MammoDataSource(str(data), "vindr", cache_dir=str(cache), synthetic_studies=0, num_workers=0)


def _outcome(source: MammoDataSource) -> dict:
    return {"keys": [exam.key for exam in source.exams], "skipped": [list(item) for item in source.report.items]}


def _rank(rank: int, init_file: str, data: str, cache: str, out_file: str) -> None:
    built = []  # the exams this rank decoded and aligned (workers off: it runs in this process)
    original = exam_cache._aligned_exam
    exam_cache._aligned_exam = lambda rows, key, *args: built.append(key) or original(rows, key, *args)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        outcome = _outcome(_source(Path(data), Path(cache)))
        Path(f"{out_file}.{rank}.json").write_text(json.dumps({**outcome, "built": built}))
    finally:
        dist.destroy_process_group()


def single_failed_key(data: Path) -> str:
    """The cache key of the exam holding the unreadable image (the only one without a record)."""
    manifest = build_manifest("vindr", data)
    first = pd.read_csv(data / "breast-level_annotations.csv", dtype=str).iloc[0]
    rows = manifest[(manifest["study_id"] == first["study_id"]) & (manifest["view"] == first["view_position"])]
    return exam_cache._cache_key(rows, {"spacing": patch_preset("96")["spacing"], "downsample": None,
                                        "registration": "mask"})


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and path.suffix != ".lock"}


@pytest.mark.timeout(600)
def test_two_ranks_write_the_single_process_cache_and_resume_without_building_an_exam_twice(
        tmp_path, synthetic_vindr, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(synthetic_vindr, data)
    table = pd.read_csv(data / "breast-level_annotations.csv", dtype=str)
    first = table.iloc[0]
    (data / "images" / first["study_id"] / f"{first['image_id']}.dicom").write_bytes(b"")  # one unreadable image
    cache = tmp_path / "cache"

    single = _outcome(_source(data, cache))  # records name their array's path: the same folder for both runs
    assert len(single["keys"]) > 20 and len(single["skipped"]) == 1
    expected = _files(cache)
    shutil.move(cache, tmp_path / "single_process_cache")

    # an interrupted earlier run had built the exams of the first six studies
    manifest = build_manifest("vindr", data)
    started = manifest[manifest["study_id"].isin(sorted(manifest["study_id"].unique())[:6])]
    prepare_exams(started, cache / "exams_96_mask", spacing=patch_preset("96")["spacing"], progress=False)
    built_before = {path: path.stat().st_mtime_ns for path in cache.rglob("*") if path.suffix in (".npy", ".json")}
    assert len(built_before) == 2 * 11  # 12 exams less the one with the unreadable image, array and record each

    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")  # containers whose host name does not resolve
    mp.spawn(_rank, args=(str(tmp_path / "init"), str(data), str(cache), str(tmp_path / "outcome")), nprocs=2,
             join=True)
    outcomes = [json.loads((tmp_path / f"outcome.{rank}.json").read_text()) for rank in (0, 1)]
    for outcome in outcomes:  # every rank holds every record and every skipped input, in one process's order
        assert {key: outcome[key] for key in single} == single
    # the ranks shared the exams left to build (the first half, mostly built before, fell to rank 0); the exam
    # with the unreadable image, never cached, is tried again, as by any run
    built = [set(outcome["built"]) for outcome in outcomes]
    left = set(single["keys"]) - {path.stem for path in built_before}
    assert not built[0] & built[1] and (built[0] | built[1]) - left == {single_failed_key(data)}
    assert len(built[1]) > len(built[0]) > 0
    assert _files(cache) == expected
    assert {path: path.stat().st_mtime_ns for path in built_before} == built_before  # none of those rebuilt
