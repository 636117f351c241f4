"""The modality-free core imports nothing of the mammography packages, so that a second bundle (ultrasound) can
build on it: every module of the core is imported in a fresh interpreter in which the mammography packages
and the medical-image readers cannot be imported."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import custom
from custom.layers import CORE, MODALITIES, TOOLS

REPO = Path(__file__).resolve().parents[1]
MAMMOGRAPHY = MODALITIES["mammography"]
ULTRASOUND = MODALITIES["ultrasound"]  # the second modality: the core and the image readers, no mammography
READERS = ("pydicom", "nibabel", "SimpleITK", "pandas", "skimage")

_IMPORT_ALL_BLOCKED = """
import importlib, json, sys
blocked = {blocked!r}

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in blocked):
            raise ImportError(f"layer violation: {{name}} imported")

sys.meta_path.insert(0, Blocked())
failures = {{}}
for module in {modules!r}:
    try:
        importlib.import_module(module)
    except ImportError as error:
        failures[module] = str(error)
print(json.dumps(failures))
"""


def _modules(packages: tuple[str, ...] = CORE) -> list[str]:
    modules = []
    for name in packages:
        modules.append(name)
        package = sys.modules.get(name) or __import__(name, fromlist=["_"])
        if hasattr(package, "__path__"):
            modules += [info.name for info in pkgutil.walk_packages(package.__path__, name + ".")]
    return modules


def _import_blocked(modules: list[str], blocked: tuple[str, ...]) -> dict:
    code = _IMPORT_ALL_BLOCKED.format(blocked=blocked, modules=modules)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_core_imports_without_the_mammography_packages():
    modules = _modules()
    assert len(modules) > 30 and "custom.training.precision" in modules and "custom.ssl.simclr" in modules
    assert _import_blocked(modules, MAMMOGRAPHY + ULTRASOUND + TOOLS + READERS) == {}


def test_the_layer_check_catches_a_violation():
    """The same check on a module that does import a blocked package reports it (the test can fail)."""
    failures = _import_blocked(["custom.mammography.detection.dense"], ("custom.mammography.data",) + READERS)
    assert "layer violation: custom.mammography.data" in failures["custom.mammography.detection.dense"]


def test_every_package_of_custom_is_in_one_layer():
    top = {info.name for info in pkgutil.iter_modules(custom.__path__, "custom.")}
    layers = [CORE, *MODALITIES.values(), TOOLS]
    assert sorted(name for layer in layers for name in layer) == sorted(top)  # each in one layer, none left out


def test_the_ultrasound_modality_imports_without_the_mammography_packages():
    modules = _modules(ULTRASOUND)
    assert "custom.ultrasound.synthetic.bmode" in modules
    assert _import_blocked(modules, MAMMOGRAPHY + TOOLS) == {}


def test_data_preparation_imports_no_torch():
    """Reading, aligning and caching exams runs in every worker process; torch would add about 330 MiB to each."""
    code = ("import sys, custom.mammography.data.exam_cache, custom.mammography.data.manifest, custom.ultrasound.readers; "
            "print(sorted(name for name in ('torch', 'monai') if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"
