"""A key that nothing in the bundle reads is an error, not a silently ignored setting.

``python -m monai.bundle run`` adds every ``--key value`` to the config, so a misspelt override
(``--max_epoch 1``) or a misspelt key in an edited config file is simply never read, and the run goes ahead
with the default. ``check_config_keys``, the first step of every config's ``initialize``, stops such a run
before any work and suggests the key that was probably meant.

A top-level key is known when some config file of the bundle (any ``configs/*.json``) or the running config
refers to it (``@key``), or when MONAI itself reads it (run ids, ``imports``, the properties that
``check_properties`` lists). MONAI gives config expressions no handle on their parser, so the check finds
the running ``ConfigWorkflow`` on the call stack.

The same check stops a switch given as text: the command line is read by Fire, which turns ``False`` into
a boolean but leaves ``false`` a string, and any non-empty string is true, so ``--amp false`` would quietly
keep bf16 on. A top-level key that some config file of the bundle sets to ``true``/``false`` must hold a
boolean or a config expression, reference or macro (``$...``, ``@...``, ``%...``, checked by MONAI when
evaluated); nested keys are not checked.

Both stop the run with a ``ConfigError``, which ``python -m monai.bundle`` prints as one line
(:mod:`custom.clear_errors`, set up here, at the first step of every config's ``initialize``).
"""

from __future__ import annotations

import difflib
import inspect
import json
import logging
import re
from pathlib import Path

from monai.bundle import ConfigWorkflow
from monai.bundle.properties import InferProperties, TrainProperties

from custom.clear_errors import ConfigError, print_clear_errors_briefly

logger = logging.getLogger(__name__)
_REFERENCE = re.compile(r"@([A-Za-z_]\w*)")
READ_BY_MONAI = {"imports", "initialize", "run", "training", "evaluating", "finalize", "_meta_", "_requires_",
                 "_disabled_"}
_PROPERTY_KEYS = {str(prop["id"]).replace("::", "#").split("#")[0] for prop in
                  [*TrainProperties.values(), *InferProperties.values()]}


def check_config_keys() -> None:
    """Raises ``ConfigError`` (a ``ValueError``) naming every top-level key of the running bundle config that
    nothing reads."""
    print_clear_errors_briefly()
    workflow = running_workflow()
    if workflow is None:
        logger.debug("no running ConfigWorkflow found: config keys not checked")
        return
    config = workflow.parser.config
    known = READ_BY_MONAI | _PROPERTY_KEYS | referenced_keys(config)
    switches = set()
    for path in sorted(Path(workflow.config_root_path).glob("*.json")):
        content = json.loads(path.read_text())
        known |= referenced_keys(content)
        switches |= {key for key, value in content.items() if isinstance(value, bool)}
    _check_switches(config, switches)
    unknown = [key for key in config if key not in known]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(k for k in config if k in known), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"unknown bundle config key(s) {', '.join(hints)}: set on the command line or in a config file of "
            f"{workflow.config_root_path}, but no config of the bundle reads them"
        )


def _check_switches(config: dict, switches: set[str]) -> None:
    """Raises ``ConfigError`` naming every on/off key of the bundle that holds something other than a boolean."""
    wrong = [f"{key}={config[key]!r}" for key in sorted(switches)
             if key in config and not isinstance(config[key], bool) and not _is_config_syntax(config[key])]
    if wrong:
        raise ConfigError(
            f"{', '.join(wrong)}: an on/off setting takes True or False (Python spelling on the command line, "
            f"true or false in JSON); the text 'false' would count as on"
        )


def _is_config_syntax(value) -> bool:
    """An expression, reference or macro, which MONAI evaluates later."""
    return isinstance(value, str) and value[:1] in ("$", "@", "%")


def referenced_keys(content) -> set[str]:
    """Top-level keys that ``@key`` references anywhere in a config's content refer to."""
    return set(_REFERENCE.findall(json.dumps(content, default=str)))


def running_workflow() -> ConfigWorkflow | None:
    """The ``ConfigWorkflow`` whose config is being run, found on the call stack (MONAI gives config
    expressions no handle on their parser); None outside one."""
    frame = inspect.currentframe()
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, ConfigWorkflow):
            return candidate
        frame = frame.f_back
    return None
