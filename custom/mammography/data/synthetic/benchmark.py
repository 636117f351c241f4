"""The frozen synthetic benchmark: which data sets of the current generator version results are measured on.

The generator is calibrated against published real-data figures (``python -m custom calibrate``,
``docs/benchmark_calibration.md``) and then frozen; methods are tuned only on a frozen version. Two data
sets belong to a version besides the training data a run generates for itself:

- the **evaluation set**: held-out patients never used for pretraining (every study in the ``test``
  split), with more findings than screening data so that the linear probe has hundreds of lesion patches;
- the **calibration training set**: patients on which the calibration's supervised classifier and the
  subtraction detector's calibration are fitted.

Both are generated once per version into a benchmark folder (default ``~/.cache/mammo-ssl/benchmark``,
or ``$MAMMO_SSL_BENCHMARK_DIR``) and reused by ``evaluate``, ``compare``, ``evaluate-detection`` and
``calibrate``, through :func:`custom.mammography.data.source.benchmark_source`. Their seeds differ from any
training seed, and patient ids are drawn per seed, so no patient of a training set is in them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock

from custom.mammography.data.synthetic.vindr import SYNTHETIC_VERSION, generate_vindr_like

logger = logging.getLogger(__name__)

BENCHMARK_DIR_VARIABLE = "MAMMO_SSL_BENCHMARK_DIR"
_COMPLETE = "COMPLETE"


@dataclass(frozen=True)
class SyntheticSet:
    """A synthetic data set of the frozen benchmark, fully determined by these fields and the version."""

    name: str
    studies: int
    seed: int
    test_fraction: float
    finding_fraction: float
    preset: str = "default"

    def folder(self, root: str | Path | None = None) -> Path:
        return benchmark_root(root) / f"v{SYNTHETIC_VERSION}" / self.name


EVALUATION_SET = SyntheticSet("evaluation", studies=500, seed=20261201, test_fraction=1.0, finding_fraction=0.6)
CALIBRATION_TRAIN_SET = SyntheticSet("calibration_train", studies=850, seed=20261202, test_fraction=0.0,
                                     finding_fraction=0.6)
_FROZEN_SETS = (EVALUATION_SET, CALIBRATION_TRAIN_SET)


def benchmark_root(root: str | Path | None = None) -> Path:
    """The benchmark folder: ``root`` if given, else ``$MAMMO_SSL_BENCHMARK_DIR``, else the user's cache."""
    if root is not None:
        return Path(root)
    if os.environ.get(BENCHMARK_DIR_VARIABLE):
        return Path(os.environ[BENCHMARK_DIR_VARIABLE])
    return Path.home() / ".cache" / "mammo-ssl" / "benchmark"


def ensure_synthetic_set(spec: SyntheticSet, root: str | Path | None = None, *, progress: bool = True) -> Path:
    """The data set's folder, generated first if it is not complete (a lock keeps concurrent runs apart).

    A folder is complete once its marker file is written, after every image; the marker names the set's
    fields, and a folder made for other fields is an error, never silently used. An interrupted generation
    is redone from scratch, and an existing folder is never modified otherwise.
    """
    folder = spec.folder(root)
    if (folder / _COMPLETE).exists():
        return _checked(folder, spec)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / _COMPLETE).exists():
            return _checked(folder, spec)
        logger.info("generating the %s set of synthetic version %s (%d studies) in %s, once per version",
                    spec.name, SYNTHETIC_VERSION, spec.studies, folder)
        generate_vindr_like(folder, spec.studies, spec.seed, spec.preset, progress=progress,
                            test_fraction=spec.test_fraction, finding_fraction=spec.finding_fraction)
        (folder / _COMPLETE).write_text(_marker(spec))
    return folder


def _marker(spec: SyntheticSet) -> str:
    return f"synthetic_version {SYNTHETIC_VERSION}\n{json.dumps(asdict(spec), sort_keys=True)}\n"


def _checked(folder: Path, spec: SyntheticSet) -> Path:
    """The folder, if its marker was written for ``spec``. A marker from before the fields were recorded
    (the version alone) is trusted only for the frozen sets, which were the only ones generated then."""
    lines = (folder / _COMPLETE).read_text().splitlines()
    if lines == [f"synthetic_version {SYNTHETIC_VERSION}"] and spec in _FROZEN_SETS:
        return folder
    try:
        found = {**asdict(spec), **json.loads(lines[1])} if len(lines) == 2 else None
    except json.JSONDecodeError:
        found = None
    if found != asdict(spec):
        raise ValueError(f"{folder}: its {_COMPLETE} marker does not describe {spec!r} (it reads "
                         f"{' | '.join(lines) or 'nothing'}); move the folder away or choose another benchmark "
                         f"folder (${BENCHMARK_DIR_VARIABLE})")
    return folder
