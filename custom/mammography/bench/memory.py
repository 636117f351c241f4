"""Peak resident memory of this process, for the benchmarks' reports."""

from __future__ import annotations

import resource
import sys


def peak_memory_mib() -> float:
    """Peak resident set size so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
