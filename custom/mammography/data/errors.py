"""The one exception type for input that cannot be used, always naming the file."""

from __future__ import annotations

from pathlib import Path

from custom.clear_errors import ClearError


class MammogramReadError(ClearError, RuntimeError):
    """An image or annotation file that cannot be read or used; the message names the file (a ``ClearError``:
    a bundle run that stops on one prints that one line).

    It survives pickling, so an error raised in a worker process reaches the parent intact (the default
    exception pickling would call ``__init__`` with the message alone).
    """

    def __init__(self, path: str | Path, problem: str):  # noqa: B042 - pickled by __reduce__ below
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        return type(self), (self.path, self.problem)
