"""The one exception type for input that cannot be used, always naming the file."""

from __future__ import annotations

from pathlib import Path


class MammogramReadError(RuntimeError):
    """An image or annotation file that cannot be read or used; the message names the file."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
