"""Collects skipped inputs so that one bad file is reported and counted, never fatal."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass
class SkipReport:
    """Items skipped during a run, each with the file and the problem, summarised at the end."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, path, problem: str) -> None:
        self.items.append((str(path), problem))
        logger.warning("skipped %s: %s", path, problem)

    def extend(self, other: "SkipReport") -> None:
        self.items.extend(other.items)

    def __len__(self) -> int:
        return len(self.items)

    def summary(self) -> str:
        if not self.items:
            return "no input skipped"
        kinds = Counter(_kind(problem) for _, problem in self.items)
        lines = [f"{len(self.items)} input(s) skipped:"]
        lines += [f"  {count} x {kind}" for kind, count in kinds.most_common()]
        lines += [f"  - {path}: {problem}" for path, problem in self.items[:20]]
        if len(self.items) > 20:
            lines.append(f"  ... and {len(self.items) - 20} more")
        return "\n".join(lines)


def _kind(problem: str) -> str:
    """The kind of a problem, for counting: its text up to the first colon or parenthesis."""
    return re.split(r":| \(", problem, maxsplit=1)[0]
