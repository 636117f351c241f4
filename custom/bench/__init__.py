"""Benchmarks that print measured figures: ``python -m custom bench data``, ``bench train`` and ``bench detect``."""

from __future__ import annotations


def run_benchmark(what: str, **options) -> None:
    if what == "data":
        from custom.bench.data import bench_data

        bench_data(**options)
    elif what == "train":
        from custom.bench.train import bench_train

        bench_train(**options)
    elif what == "detect":
        from custom.bench.detect import bench_detect

        bench_detect(**options)
    else:
        raise ValueError(f"unknown benchmark {what!r}: choose 'data', 'train' or 'detect'")
