"""A key that nothing in the bundle reads is an error, not a silently ignored setting.

``python -m monai.bundle run`` adds every ``--key value`` to the config, so a misspelt override
(``--max_epoch 1``) or a misspelt key in an edited config file is simply never read, and the run goes ahead
with the default. ``check_config_keys``, the first step of every config's ``initialize``, stops such a run
before any work and suggests the key that was probably meant.

A top-level key is known when some config file of the bundle (any ``configs/*.json``) or the running config
refers to it (``@key``), or when MONAI itself reads it (run ids, ``imports``, the properties that
``check_properties`` lists). MONAI gives config expressions no handle on their parser, so the check finds
the running ``ConfigWorkflow`` on the call stack.
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

logger = logging.getLogger(__name__)
_REFERENCE = re.compile(r"@([A-Za-z_]\w*)")
READ_BY_MONAI = {"imports", "initialize", "run", "training", "evaluating", "finalize", "_meta_", "_requires_",
                 "_disabled_"}
_PROPERTY_KEYS = {str(prop["id"]).replace("::", "#").split("#")[0] for prop in
                  [*TrainProperties.values(), *InferProperties.values()]}


def check_config_keys() -> None:
    """Raises ``ValueError`` naming every top-level key of the running bundle config that nothing reads."""
    workflow = _running_workflow()
    if workflow is None:
        logger.debug("no running ConfigWorkflow found: config keys not checked")
        return
    config = workflow.parser.config
    known = READ_BY_MONAI | _PROPERTY_KEYS | referenced_keys(config)
    for path in sorted(Path(workflow.config_root_path).glob("*.json")):
        known |= referenced_keys(json.loads(path.read_text()))
    unknown = [key for key in config if key not in known]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(k for k in config if k in known), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"unknown bundle config key(s) {', '.join(hints)}: set on the command line or in a config file of "
            f"{workflow.config_root_path}, but no config of the bundle reads them"
        )


def referenced_keys(content) -> set[str]:
    """Top-level keys that ``@key`` references anywhere in a config's content refer to."""
    return set(_REFERENCE.findall(json.dumps(content, default=str)))


def _running_workflow() -> ConfigWorkflow | None:
    frame = inspect.currentframe()
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, ConfigWorkflow):
            return candidate
        frame = frame.f_back
    return None
