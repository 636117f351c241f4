"""Errors whose message says all a user needs, printed as one line instead of a traceback.

``python -m monai.bundle run`` ends any failed run with a traceback, and MONAI wraps an error raised inside a
config component in its own ``RuntimeError`` ("Failed to instantiate component ..."), so a wrong setting or a
missing data folder shows as 60 lines ending far from the cause. A ``ClearError`` marks an error as the user's
to fix, with a message that names the key or the file and what to do; :func:`print_clear_errors_briefly`, which
every bundle config's ``initialize`` runs first (through ``check_config_keys``), makes such an error, when
nothing catches it, print as ``error: <message>`` alone. Library callers still receive the exception itself.
"""

from __future__ import annotations

import sys


class ClearError(Exception):
    """An error the user fixes by reading its message (a setting, a path, a data set): no traceback needed.

    A marker, combined with the built-in type that fits (``ConfigError`` is a ``ValueError`` too)."""


class ConfigError(ClearError, ValueError):
    """A bundle setting of the wrong type, out of range, or unknown; the message names the key."""


def clear_error_in(error: BaseException | None) -> ClearError | None:
    """The first ``ClearError`` in ``error``'s chain of causes (MONAI wraps ours in its own errors), or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ClearError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def print_clear_errors_briefly() -> None:
    """Makes an uncaught error that carries a ``ClearError`` print as ``error: <message>`` on stderr (exit
    status 1, as before) instead of a traceback; every other error keeps its traceback. Idempotent."""
    if getattr(sys.excepthook, "prints_clear_errors", False):
        return
    previous = sys.excepthook

    def hook(kind, error, trace):
        clear = clear_error_in(error)
        if clear is None:
            previous(kind, error, trace)
        else:
            print(f"error: {clear}", file=sys.stderr)

    hook.prints_clear_errors = True
    sys.excepthook = hook


class DataSetError(ClearError, ValueError):
    """A data set that cannot be used as a whole (no such folder, not the layout named, nothing usable in
    it); the message names the folder and says what to give instead."""
