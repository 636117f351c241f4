"""Benchmarks that print measured figures: ``python -m custom bench data``, ``bench train``, ``bench detect`` and
``bench probe``."""

from __future__ import annotations

import importlib
import inspect

BENCHMARKS = {"data": "custom.mammography.bench.data:bench_data", "train": "custom.mammography.bench.train:bench_train",
              "detect": "custom.mammography.bench.detect:bench_detect", "probe": "custom.mammography.bench.probe:bench_probe"}


def benchmark_function(what: str):
    """The function behind ``bench <what>``."""
    if what not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {what!r}: choose one of {sorted(BENCHMARKS)}")
    module, name = BENCHMARKS[what].split(":")
    return getattr(importlib.import_module(module), name)


def run_benchmark(what: str, **options) -> None:
    """Runs one benchmark; ``--help`` prints its options instead (fire hands it over as an option)."""
    bench = benchmark_function(what)
    if options.pop("help", False):
        print(f"python -m custom bench {what} {inspect.signature(bench)}\n\n{inspect.getdoc(bench)}")
        return
    bench(**options)
