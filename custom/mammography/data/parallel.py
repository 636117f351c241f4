"""One map over inputs, serial or in worker processes, that hands back bad input instead of failing the run.

Expected errors (``MammogramReadError``, ``ValueError``, ``OSError``) raised for one item are returned in its
place, so the caller can report that item and go on; ``MammogramReadError`` pickles with its file and problem,
so a worker's error names the same file as a serial run's. Anything else is a bug and propagates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from custom.mammography.data.errors import MammogramReadError

EXPECTED_ERRORS = (MammogramReadError, ValueError, OSError)


def default_workers() -> int:
    """One worker per CPU, at most 8: the bundle's ``prepare_workers`` default."""
    return min(os.cpu_count() or 1, 8)


def map_reporting(function: Callable, items: Sequence, num_workers: int, *args: Any) -> Iterator[tuple[Any, Any]]:
    """Yields ``(item, function(item, *args) or the expected error it raised)`` in the order of ``items``."""
    if num_workers <= 0:
        for item in items:
            yield item, _call(function, item, args)
        return
    with ProcessPoolExecutor(num_workers) as executor:
        futures = [executor.submit(_call, function, item, args) for item in items]
        for item, future in zip(items, futures, strict=True):
            yield item, future.result()


def _call(function: Callable, item: Any, args: Iterable) -> Any:
    try:
        return function(item, *args)
    except EXPECTED_ERRORS as error:
        return error
