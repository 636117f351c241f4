"""Benchmarks that print measured figures: ``python -m custom bench data``, ``bench train``, ``bench detect`` and
``bench probe``."""

from __future__ import annotations

import importlib
import inspect

BENCHMARKS = {"data": "custom.mammography.bench.data:bench_data", "train": "custom.mammography.bench.train:bench_train",
              "detect": "custom.mammography.bench.detect:bench_detect", "probe": "custom.mammography.bench.probe:bench_probe"}


def benchmark_function(what: str, registry: dict[str, str] | None = None):
    """The function behind ``bench <what>``, in ``registry`` (default ``BENCHMARKS``; the command line adds the
    tools' own, such as ``bench pacs``)."""
    registry = BENCHMARKS if registry is None else registry
    if what not in registry:
        raise ValueError(f"unknown benchmark {what!r}: choose one of {sorted(registry)}")
    module, name = registry[what].split(":")
    return getattr(importlib.import_module(module), name)


def run_benchmark(what: str, registry: dict[str, str] | None = None, **options) -> None:
    """Runs one benchmark; ``--help`` prints its options instead (fire hands it over as an option)."""
    bench = benchmark_function(what, registry)
    if options.pop("help", False):
        print(f"python -m custom bench {what} {inspect.signature(bench)}\n\n{inspect.getdoc(bench)}")
        return
    bench(**options)
