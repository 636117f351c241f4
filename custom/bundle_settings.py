"""The documented settings of a bundle, checked for type and range before any work.

``python -m monai.bundle run`` passes ``--max_epochs abc`` on as the text ``'abc'``, which fails an hour later,
deep in ignite, as "'<' not supported between 'str' and 'int'"; ``--max_epochs -3`` trains nothing and says
it succeeded. Each modality declares its bundle's settings as a mapping of config id to :class:`Setting`
(``custom.mammography.settings``, ``custom.ultrasound.settings``), and the configs' ``initialize`` checks the
running config against it: a value of the wrong type or out of range stops the run with one line naming the
key, the value and what the key takes (a :class:`~custom.clear_errors.ConfigError`).

A key whose value refers to another key (``"@max_epochs"``) is skipped: the key referred to is checked itself,
so the error names the key the user set. An expression (``"$..."``) is evaluated and its result checked.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from custom.bundle_config import running_workflow
from custom.clear_errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """What one key takes: ``accepts`` decides; ``expects`` says it in words for the message (a callable for
    choices known only when checking, such as a registry's names)."""

    expects: str | Callable[[], str]
    accepts: Callable[[object], bool]

    def describe(self) -> str:
        return self.expects() if callable(self.expects) else self.expects


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def whole_number(minimum: int = 0) -> Setting:
    return Setting(f"a whole number >= {minimum}", lambda value: _integer(value) and value >= minimum)


def positive_number() -> Setting:
    return Setting("a number > 0", lambda value: _real(value) and value > 0)


def number_from(low: float, high: float | None = None, *, high_open: bool = False) -> Setting:
    """A number in [low, high] ([low, high) with ``high_open``; no upper bound with ``high`` None)."""
    if high is None:
        return Setting(f"a number >= {low}", lambda value: _real(value) and value >= low)
    bracket = ")" if high_open else "]"
    return Setting(f"a number in [{low}, {high}{bracket}",
                   lambda value: _real(value) and low <= value and (value < high if high_open else value <= high))


def imported(module: str, name: str) -> Callable[[], Iterable]:
    """The choices ``module.name`` (``name`` may be dotted: ``Class.ATTRIBUTE``), imported when asked for, so that
    a settings table imports no registry, torch or pandas until a config is checked."""

    def choices() -> Iterable:
        value = importlib.import_module(module)
        for part in name.split("."):
            value = getattr(value, part)
        return value

    return choices


def one_of(choices: Iterable | Callable[[], Iterable]) -> Setting:
    """One of ``choices`` (compared as text, so ``--patch_preset 96`` matches ``"96"``); a callable is asked
    when checking, so that a registry is imported only then."""

    def names() -> list[str]:
        return sorted(str(choice) for choice in (choices() if callable(choices) else choices))

    def accepts(value) -> bool:
        return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) in names()

    return Setting(lambda: "one of " + ", ".join(repr(name) for name in names()), accepts)


def optional(setting: Setting) -> Setting:
    """``setting`` or null (None)."""
    return Setting(lambda: f"null or {setting.describe()}", lambda value: value is None or setting.accepts(value))


def text() -> Setting:
    return Setting("a text (a path or a name)", lambda value: isinstance(value, str) and value != "")


def text_list() -> Setting:
    return Setting("a list of names", lambda value: isinstance(value, (list, tuple)) and value != []
                   and all(isinstance(item, str) for item in value))


def check_settings(settings: Mapping[str, Setting]) -> None:
    """Checks every key of ``settings`` that the running bundle config holds; raises ``ConfigError`` naming
    each wrong one. Run from a config's ``initialize`` (the workflow is found on the call stack, as
    :func:`~custom.bundle_config.check_config_keys` finds it); a no-op outside a workflow."""
    workflow = running_workflow()
    if workflow is None:
        return
    problems = settings_problems(workflow.parser, settings)
    if problems:
        raise ConfigError("; ".join(problems))


def settings_problems(parser, settings: Mapping[str, Setting]) -> list[str]:
    """``"key=value: expects ..."`` for each key of ``settings`` whose value in ``parser`` is wrong."""
    problems = []
    for key, setting in settings.items():
        raw = parser.get(key, _MISSING)
        if raw is _MISSING or (isinstance(raw, str) and raw[:1] in ("@", "%")):
            continue
        value = parser.get_parsed_content(key) if isinstance(raw, str) and raw.startswith("$") else raw
        if not setting.accepts(value):
            problems.append(f"{key}={value!r}: expects {setting.describe()}")
    return problems


_MISSING = object()
