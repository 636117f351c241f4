"""The frozen ultrasound benchmark: the synthetic sets of the current generator version that ``calibrate-us``
and ``compare-us`` measure on.

One folder per version (``us-v<version>`` in the benchmark folder: ``$MAMMO_SSL_BENCHMARK_DIR`` or
``~/.cache/mammo-ssl/benchmark``), written once by ``synth_us`` with the "benchmark" preset and a fixed seed:
the BUSI-sized breast set, and the other organs' sets when a comparison pretrains on them. Each set is written
under a temporary name and renamed when complete, so an interrupted generation is redone, never half used.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from filelock import FileLock

from custom.ultrasound.synthetic.generate import synth_us
from custom.ultrasound.synthetic.version import SYNTHETIC_VERSION
from custom.ultrasound.synthetic.writers import FOLDERS, TRUTH_FOLDER

logger = logging.getLogger(__name__)

BENCHMARK_DIR_VARIABLE = "MAMMO_SSL_BENCHMARK_DIR"  # shared with the mammography benchmark
BENCHMARK_PRESET, BENCHMARK_SEED = "benchmark", 20261203


def us_benchmark_folder(root: str | Path | None = None) -> Path:
    """This version's folder under ``root``, else ``$MAMMO_SSL_BENCHMARK_DIR``, else the user's cache."""
    default = Path.home() / ".cache" / "mammo-ssl" / "benchmark"
    base = Path(root) if root is not None else Path(os.environ.get(BENCHMARK_DIR_VARIABLE) or default)
    return base / f"us-v{SYNTHETIC_VERSION}"


def ensure_us_benchmark(root: str | Path | None = None, sets: tuple[str, ...] = ("busi",), workers: int = 1) -> Path:
    """The benchmark folder holding every set of ``sets`` (names of ``synthetic.writers.FOLDERS``), the missing
    ones written first (a lock keeps concurrent runs apart)."""
    folder = us_benchmark_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        for name in sets:
            if (folder / FOLDERS[name]).is_dir():
                continue
            logger.info("writing the benchmark's %s set (synthetic_version %s) to %s, once per version", name,
                        SYNTHETIC_VERSION, folder)
            partial = folder / f".partial_{name}"
            shutil.rmtree(partial, ignore_errors=True)
            synth_us(partial, seed=BENCHMARK_SEED, preset=BENCHMARK_PRESET, sets=(name,), workers=workers)
            if name == "busi":
                shutil.rmtree(folder / TRUTH_FOLDER, ignore_errors=True)  # left by an interrupted move
                os.replace(partial / TRUTH_FOLDER, folder / TRUTH_FOLDER)
            os.replace(partial / "README.txt", folder / "README.txt")
            os.replace(partial / FOLDERS[name], folder / FOLDERS[name])  # last: the set counts as written
            shutil.rmtree(partial)
    return folder
