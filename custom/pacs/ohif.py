"""OHIF's static build, taken from the MONAI Label wheel the project already knows.

The monailabel 0.8.5 wheel ships OHIF 3.10.0-beta.5 (about 350 files, 52 MB) under
``monailabel/endpoints/static/ohif/``. ``pip download --no-deps`` fetches the wheel alone (20 MB, no torch) from
the package registry; the build is unpacked once into ``~/.cache/mammo-ssl/ohif`` (or ``$MAMMO_SSL_OHIF_DIR``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from custom.pacs.errors import PacsError

OHIF_SOURCE = "monailabel==0.8.5"
OHIF_VERSION = "3.10.0-beta.5"
WHEEL_FOLDER = "monailabel/endpoints/static/ohif/"
CACHE_VARIABLE = "MAMMO_SSL_OHIF_DIR"


def ohif_cache() -> Path:
    root = Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "mammo-ssl" / "ohif")
    return root / f"ohif-{OHIF_VERSION}"


def ohif_build(folder: str | Path | None = None) -> Path:
    """A folder holding OHIF's ``index.html``: ``folder`` when given, else the cached build, downloaded once."""
    if folder is not None:
        folder = Path(folder)
        if not (folder / "index.html").is_file():
            raise PacsError(f"{folder}: not an OHIF build (no index.html)")
        return folder
    cache = ohif_cache()
    if (cache / "index.html").is_file():
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache.parent, prefix="download-") as work:
        wheel = _download_wheel(Path(work))
        unpacked = Path(work) / "ohif"
        _unpack(wheel, unpacked)
        if not (cache / "index.html").is_file():  # another process may have finished first
            shutil.rmtree(cache, ignore_errors=True)
            os.replace(unpacked, cache)
    return cache


def _download_wheel(folder: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", OHIF_SOURCE,
               "-d", str(folder), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("monailabel-*.whl"))
    if done.returncode != 0 or not wheels:
        raise PacsError(f"could not download OHIF's build ({' '.join(command[2:])} failed: "
                        f"{done.stderr.strip()[-500:]}); give a folder holding an OHIF build with --ohif DIR")
    return wheels[0]


def _unpack(wheel: Path, folder: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        members = [name for name in archive.namelist() if name.startswith(WHEEL_FOLDER) and not name.endswith("/")]
        if not members:
            raise PacsError(f"{wheel.name} holds no OHIF build under {WHEEL_FOLDER}")
        for name in members:
            target = folder / name[len(WHEEL_FOLDER):]
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(name) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
