"""Peak resident memory of this process, for the benchmarks' reports."""

from __future__ import annotations

import resource
import sys


def peak_memory_mib() -> float:
    """Peak resident set size so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def own_peak_memory_mib() -> float:
    """Peak resident set size of this process's own memory, in MiB (Linux: ``VmHWM``).

    ``ru_maxrss`` carries over an ``exec``: a process spawned by a parent holding 1.4 GiB reports at least that.
    ``VmHWM`` belongs to the process's address space, which ``exec`` replaces; elsewhere ``ru_maxrss`` is used.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return peak_memory_mib()
