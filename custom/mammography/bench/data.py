"""Data-preparation throughput: DICOM to cached aligned pairs, against plain pydicom decoding."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pydicom

from custom.mammography.bench.memory import peak_memory_mib
from custom.mammography.data.exam_cache import prepare_exams
from custom.mammography.data.manifest import build_manifest
from custom.mammography.data.presets import patch_preset
from custom.skip_report import SkipReport


def _plain_pydicom_seconds(paths: list[str]) -> float:
    """What a user's own loop costs: read each file and decode its pixels, nothing else."""
    start = time.perf_counter()
    for path in paths:
        pydicom.dcmread(path).pixel_array
    return time.perf_counter() - start


def bench_data(data: str | None = None, studies: int | None = None, preset: str = "default", patch: str = "96",
               num_workers: int | None = None, seed: int = 0, full_size: bool = False, ranks: int = 1) -> dict:
    """Prints images/s from DICOM to the aligned-exam cache, the plain-decoding rate, and their ratio.

    Without ``data`` a synthetic VinDr-layout set of ``studies`` studies (default 40) is generated first (not
    timed). ``num_workers`` defaults to the CPU count (at most 8), as in the bundle; the plain-decoding
    reference is the single-process loop a user would write. ``--full_size``: detector-size exams instead
    (4,000 x 3,300 px at 0.07 mm, default 4 studies), seconds per image and peak memory per process
    (``custom.mammography.bench.full_size``). ``--ranks N``: the preparation shared by N torchrun-like ranks
    against one rank, each rank preparing in its own process unless ``num_workers`` says otherwise
    (``custom.mammography.bench.ranks``).
    """
    if ranks > 1:
        from custom.mammography.bench.ranks import bench_ranks

        return bench_ranks(ranks, studies=studies, preset=preset, patch=patch, num_workers=num_workers or 0,
                           seed=seed, full_size=full_size, data=data)
    if full_size:
        from custom.mammography.bench.full_size import bench_full_size

        return bench_full_size(studies=studies or 4, patch=patch, num_workers=num_workers, seed=seed, data=data)
    studies = studies or 40
    if num_workers is None:
        num_workers = min(os.cpu_count() or 1, 8)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(data) if data else Path(scratch) / "data"
        if data is None:
            from custom.mammography.data.synthetic import generate_vindr_like

            generate_vindr_like(root, studies=studies, seed=seed, preset=preset)
        manifest = build_manifest("vindr", root, seed=seed)
        paths = list(manifest["path"])
        plain = _plain_pydicom_seconds(paths)
        report = SkipReport()
        start = time.perf_counter()
        exams = prepare_exams(manifest, Path(scratch) / "cache", spacing=patch_preset(patch)["spacing"],
                              num_workers=num_workers, report=report, progress=False)
        ours = time.perf_counter() - start
        start = time.perf_counter()
        prepare_exams(manifest, Path(scratch) / "cache", spacing=patch_preset(patch)["spacing"],
                      num_workers=num_workers, progress=False)
        cached = time.perf_counter() - start
    images = 2 * len(exams)
    result = {
        "images": images,
        "plain_pydicom_images_per_s": len(paths) / plain,
        "pipeline_images_per_s": images / ours,
        "ratio_pipeline_to_plain": (images / ours) / (len(paths) / plain),
        "cached_rerun_images_per_s": images / cached,
        "num_workers": num_workers,
        "peak_memory_mib": peak_memory_mib(),
    }
    print(f"images decoded, segmented, aligned and cached: {images} ({len(report)} skipped)")
    print(f"plain pydicom decoding:        {result['plain_pydicom_images_per_s']:8.1f} images/s")
    print(f"DICOM -> cached aligned pairs: {result['pipeline_images_per_s']:8.1f} images/s "
          f"(num_workers={num_workers})")
    print(f"ratio pipeline / plain:        {result['ratio_pipeline_to_plain']:8.2f}")
    print(f"second run from the cache:     {result['cached_rerun_images_per_s']:8.1f} images/s")
    print(f"peak memory:                   {result['peak_memory_mib']:8.0f} MiB")
    return result
