"""Benchmarks that print measured figures: ``python -m custom bench data`` and ``python -m custom bench train``."""

from __future__ import annotations


def run_benchmark(what: str, **options) -> None:
    if what == "data":
        from custom.bench.data import bench_data

        bench_data(**options)
    elif what == "train":
        from custom.bench.train import bench_train

        bench_train(**options)
    else:
        raise ValueError(f"unknown benchmark {what!r}: choose 'data' or 'train'")
