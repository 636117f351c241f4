"""Detection speed: seconds per 4-view exam, against one plain dense forward pass and a sliding window.

End to end: ``AsymmetryDetector.predict_exam`` on each cached exam (read from the cache, dense embeddings,
asymmetry maps, probabilities, full-resolution heatmaps, candidates). Ceiling: ``encoder.feature_map`` alone
on the same breasts, already in memory, with the same batching and precision. Sliding window: every patch of
the same grid (same size, stride and centres) cut out and embedded on its own, in batches.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from custom.mammography.bench.memory import peak_memory_mib
from custom.mammography.data.exam_cache import prepare_exams
from custom.mammography.data.manifest import build_manifest
from custom.mammography.data.presets import patch_preset
from custom.mammography.detection import AsymmetryDetector, EncoderDenseEmbedder
from custom.mammography.detection.dense import grid_shape
from custom.training.precision import MixedPrecision
from custom.networks import seeded_encoder


def _interleaved_median_seconds(steps: dict, repeats: int) -> dict[str, float]:
    """Median time of each step; the steps take turns, so load from other processes hits them alike."""
    for step in steps.values():
        step()  # warm-up: first-call allocations and kernel selection
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _breast_pairs(exams, precision: MixedPrecision) -> list[torch.Tensor]:
    """Each exam's two breasts as one prepared ``(2, 1, H, W)`` batch, as the detector feeds them."""
    return [precision.prepare_input(torch.from_numpy(np.asarray(exam.load()[:2, None], dtype=np.float32)))
            for exam in exams]


@torch.no_grad()
def _sliding_window(embedder: EncoderDenseEmbedder, pairs: list[torch.Tensor], batch_size: int, stride: int) -> None:
    """Embeds every patch centred on a ``stride``-px grid on its own, in batches (aligned with the detector's)."""
    precision, size = embedder.precision, embedder.patch_size
    before = int(size / 2 - embedder.offset)  # puts the first patch's centre on the first cell's centre
    for pair in pairs:
        height, width = grid_shape(tuple(pair.shape[-2:]), stride)
        padded = F.pad(pair, (before, size, before, size))
        rows, cols = ((n - size) // stride + 1 for n in padded.shape[-2:])
        patches = F.unfold(padded, size, stride=stride).reshape(2, size * size, rows, cols)[:, :, :height, :width]
        patches = patches.permute(0, 2, 3, 1).reshape(-1, 1, size, size)
        for start in range(0, len(patches), batch_size):
            batch = precision.prepare_input(patches[start : start + batch_size])
            with precision.autocast():
                embedder.encoder(batch)


def bench_detect(data: str | None = None, studies: int = 2, preset: str = "default", patch: str = "96",
                 amp: bool = True, repeats: int = 5, batch_size: int = 128, sliding_stride: int | None = None,
                 threads: int | None = None, seed: int = 0) -> dict:
    """Prints seconds per 4-view exam for the detector, the dense-forward ceiling and a sliding window.

    Without ``data`` a synthetic VinDr-layout set of ``studies`` studies is generated (not timed). The
    encoder is randomly initialised: speed does not depend on the weights. The detector is calibrated on
    the same exams (not timed). ``sliding_stride`` (default: the detector's grid stride, so both give one
    embedding per cell) sets the sliding window's step. ``threads`` sets torch's thread count (default: torch's
    own); one thread gives steadier figures on a machine that other jobs share.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(data) if data else Path(scratch) / "data"
        if data is None:
            from custom.mammography.data.synthetic import generate_vindr_like

            generate_vindr_like(root, studies=studies, seed=seed, preset=preset)
        exams = prepare_exams(build_manifest("vindr", root, seed=seed), Path(scratch) / "cache",
                              spacing=patch_preset(patch)["spacing"], progress=False)
        if not exams:
            raise ValueError(f"{root}: no study with both breasts in a view, nothing to benchmark")
        precision = MixedPrecision("cpu", enabled=amp)
        embedder = EncoderDenseEmbedder(seeded_encoder(seed, normalize=True), int(patch_preset(patch)["patch_size"]),
                                        precision)
        detector = AsymmetryDetector(embedder, seed=seed).fit(exams)
        pairs = _breast_pairs(exams, precision)
        four_view_exams = len(exams) / 2  # an exam here is one view of both breasts

        def detect():
            for exam in exams:
                detector.predict_exam(exam)

        @torch.no_grad()
        def ceiling():
            for pair in pairs:
                with precision.autocast():
                    embedder.encoder.feature_map(pair)

        sliding_stride = sliding_stride or embedder.stride

        def sliding_window():
            _sliding_window(embedder, pairs, batch_size, sliding_stride)

        medians = _interleaved_median_seconds(
            {"detector": detect, "ceiling": ceiling, "sliding_window": sliding_window}, repeats
        )
        seconds = {name: value / four_view_exams for name, value in medians.items()}
    shapes = [tuple(pair.shape[-2:]) for pair in pairs]
    patches = sum(2 * np.prod(grid_shape(shape, sliding_stride)) for shape in shapes)
    result = {
        "seconds_per_4_view_exam": seconds,
        "ratio_detector_to_ceiling": seconds["detector"] / seconds["ceiling"],
        "speedup_over_sliding_window": seconds["sliding_window"] / seconds["detector"],
        "four_view_exams": four_view_exams,
        "grid_stride_px": embedder.stride,
        "sliding_stride_px": sliding_stride,
        "patches_per_4_view_exam": float(patches / four_view_exams),
        "mean_breast_shape": tuple(float(np.mean(axis)) for axis in zip(*shapes, strict=True)),
        "precision": str(precision.dtype) if precision.enabled else "fp32",
        "channels_last": precision.channels_last,
        "threads": torch.get_num_threads(),
        "peak_memory_mib": peak_memory_mib(),
    }
    height, width = result["mean_breast_shape"]
    studies = len({exam.study_id for exam in exams})
    print(f"{len(exams)} views of {studies} studies, breasts {height:.0f} x {width:.0f} px on average; "
          f"{result['precision']}, channels-last: {result['channels_last']}, {result['threads']} threads")
    print(f"detector end to end:           {seconds['detector']:8.3f} s per 4-view exam")
    print(f"ceiling (one dense forward):   {seconds['ceiling']:8.3f} s per 4-view exam")
    print(f"detector grid: one embedding per {embedder.stride} px")
    print(f"sliding window ({result['patches_per_4_view_exam']:.0f} patches, stride {sliding_stride} px): "
          f"{seconds['sliding_window']:8.3f} s per 4-view exam")
    print(f"ratio detector / ceiling:      {result['ratio_detector_to_ceiling']:8.2f}")
    print(f"speed-up over sliding window:  {result['speedup_over_sliding_window']:8.1f}x")
    print(f"peak memory:                   {result['peak_memory_mib']:8.0f} MiB")
    return result
