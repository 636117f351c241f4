"""``bench data --full_size``: real-size screening exams from DICOM to the cached aligned exam, per image and in
memory, next to plain pydicom decoding of the same files.

The exams are the synthetic generator's, rendered at the size and spacing of a digital mammography detector
(4,000 x 3,300 px at 0.07 mm) instead of its small presets; everything else (texture, lesions, the mix of
photometric interpretations, bit depths and compressed transfer syntaxes) is the generator's own. Each
measurement runs in a fresh process, so that its peak memory is its own.
"""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pydicom

from custom.mammography.data.parallel import default_workers
from custom.mammography.data.presets import patch_preset

FULL_SIZE_SHAPE = (4000, 3300)
FULL_SIZE_SPACING_MM = 0.07
_PRESET = "full-size"


@contextmanager
def full_size_preset():
    """The generator's presets with one more, at detector size, for as long as the benchmark writes its data."""
    from custom.mammography.data.synthetic.vindr import PRESETS, Preset

    PRESETS[_PRESET] = Preset(FULL_SIZE_SHAPE, FULL_SIZE_SPACING_MM)
    try:
        yield _PRESET
    finally:
        del PRESETS[_PRESET]


def bench_full_size(studies: int = 4, patch: str = "96", num_workers: int | None = None, seed: int = 0,
                    data: str | None = None) -> dict:
    """Prints seconds per image and peak memory: plain pydicom decoding (one process), and DICOM -> cached aligned
    exam in one process and in ``num_workers`` worker processes (default one per CPU, at most 8).

    ``data``: an existing VinDr-layout folder to measure instead of writing ``studies`` synthetic ones.
    """
    num_workers = default_workers() if num_workers is None else num_workers
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(data) if data else Path(scratch) / "data"
        if data is None:
            from custom.mammography.data.synthetic import generate_vindr_like

            start = time.perf_counter()
            with full_size_preset() as preset:
                generate_vindr_like(root, studies=studies, seed=seed, preset=preset, progress=True)
            print(f"wrote {studies} full-size synthetic studies in {time.perf_counter() - start:.0f} s")
        spacing = patch_preset(patch)["spacing"]
        plain = _in_fresh_process(_plain_decoding, str(root))
        serial = _in_fresh_process(_pipeline, str(root), str(Path(scratch) / "cache_serial"), spacing, 0)
        parallel = _in_fresh_process(_pipeline, str(root), str(Path(scratch) / "cache_parallel"), spacing, num_workers)
    images = plain["images"]
    result = {
        "images": images,
        "image_shape": plain["shape"],
        "plain_seconds_per_image": plain["seconds"] / images,
        "plain_peak_mib": plain["peak_mib"],
        "pipeline_seconds_per_image": serial["seconds"] / serial["images"],
        "pipeline_peak_mib": serial["peak_mib"],
        "workers": num_workers,
        "workers_seconds_per_image": parallel["seconds"] / parallel["images"],
        "worker_peak_mib": parallel["worker_peak_mib"],
        "skipped": serial["skipped"],
    }
    result["ratio_one_process"] = result["plain_seconds_per_image"] / result["pipeline_seconds_per_image"]
    result["ratio_workers"] = result["plain_seconds_per_image"] / result["workers_seconds_per_image"]
    print(f"{images} images of {plain['shape'][0]} x {plain['shape'][1]} px ({result['skipped']} skipped), "
          f"to the {patch}-px preset ({spacing} mm)")
    print(f"plain pydicom decoding, 1 process:      {result['plain_seconds_per_image']:6.2f} s/image, "
          f"peak {result['plain_peak_mib']:5.0f} MiB")
    print(f"DICOM -> cached aligned exam, 1 process: {result['pipeline_seconds_per_image']:6.2f} s/image, "
          f"peak {result['pipeline_peak_mib']:5.0f} MiB (ratio {result['ratio_one_process']:.2f})")
    print(f"DICOM -> cached aligned exam, {num_workers} workers: {result['workers_seconds_per_image']:6.2f} s/image, "
          f"peak {result['worker_peak_mib']:5.0f} MiB per worker (ratio {result['ratio_workers']:.2f})")
    return result


def _in_fresh_process(function, *args) -> dict:
    """``function(*args)`` in a new interpreter (not a daemon: the pipeline starts its own workers)."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_put_result, args=(results, function, *args))
    process.start()
    result = results.get()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"benchmark process {function.__name__} failed with exit code {process.exitcode}")
    return result


def _put_result(results, function, *args) -> None:
    results.put(function(*args))


def _peak_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def _plain_decoding(root: str) -> dict:
    """The loop a user would write: read each file and decode its pixels, nothing else."""
    paths = sorted(Path(root, "images").rglob("*.dicom"))
    start = time.perf_counter()
    for path in paths:
        shape = pydicom.dcmread(path).pixel_array.shape
    return {"images": len(paths), "seconds": time.perf_counter() - start, "peak_mib": _peak_mib(), "shape": shape}


def _pipeline(root: str, cache: str, spacing: float, workers: int) -> dict:
    from custom.mammography.data.exam_cache import prepare_exams
    from custom.mammography.data.manifest import build_manifest
    from custom.skip_report import SkipReport

    manifest = build_manifest("vindr", root)
    report = SkipReport()
    start = time.perf_counter()
    exams = prepare_exams(manifest, cache, spacing=spacing, num_workers=workers, report=report, progress=False)
    return {"images": 2 * len(exams), "seconds": time.perf_counter() - start, "skipped": len(report),
            "peak_mib": _peak_mib(), "worker_peak_mib": _peak_mib(resource.RUSAGE_CHILDREN) if workers else None}
