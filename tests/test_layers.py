"""The modality-free core imports nothing of the mammography packages, so that a second bundle (ultrasound) can
build on it: every module of the core is imported in a fresh interpreter in which the mammography packages
and the medical-image readers cannot be imported. And no module of the package imports itself through others
(an import circle), within a layer or across layers."""

from __future__ import annotations

import ast
import importlib
import importlib.util
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


def test_every_module_of_every_layer_imports():
    """Command modules are imported only when their command runs, so a stale import (a function moved to
    another module) would otherwise surface only in the user's hands."""
    modules = _modules(CORE + tuple(name for layer in MODALITIES.values() for name in layer) + TOOLS)
    assert "custom.mammography.compare.instrument" in modules and "custom.pacs.connection" in modules
    assert _import_blocked(modules, ()) == {}


def test_every_import_inside_a_function_names_something_that_exists():
    """The command line imports each command's code when it runs; importing the modules does not run those."""
    missing = []
    for path in Path(custom.__file__).parent.rglob("*.py"):
        functions = [node for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for node in (sub for function in functions for sub in ast.walk(function)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("custom"):
                module = importlib.import_module(node.module)
                missing += [f"{path.name}: {node.module}.{alias.name}" for alias in node.names
                            if not hasattr(module, alias.name) and importlib.util.find_spec(
                                f"{node.module}.{alias.name}") is None]
    assert missing == []


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


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, read from the source of every module under ``root`` (the
    folder of ``package``): ``import a.b``, ``from a import b`` (the module ``a.b`` if there is one, else ``a``)
    and relative imports, at module level or inside functions alike (a deferred import closes a circle too)."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {module: set() for module in modules}
    for module, path in modules.items():
        here = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[module] |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                for alias in node.names:
                    target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    if target in modules:
                        graph[module].add(target)
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per group of modules that import each other (directly or through others), as the path
    ``[a, b, ..., a]``; none when the graph has no cycle."""
    circles, done = [], set()
    for start in sorted(graph):
        if start in done:
            continue
        # the modules reachable from start that reach start again form its circle group
        paths, queue = {start: [start]}, [start]
        while queue:
            module = queue.pop(0)
            for target in sorted(graph[module]):
                if target == start:
                    circle = paths[module] + [start]
                    circles.append(circle)
                    done.update(circle)
                    queue = []
                    break
                if target not in paths:
                    paths[target] = paths[module] + [target]
                    queue.append(target)
        done.add(start)
    return circles


def test_no_module_of_the_package_imports_itself_through_others():
    circles = import_circles(import_graph(REPO / "custom", "custom"))
    assert not circles, "import circles: " + "; ".join(" -> ".join(circle) for circle in circles)


def test_the_circle_check_finds_a_circle_inside_a_layer_and_through_a_deferred_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "data").mkdir(parents=True)
    for path, code in {"__init__.py": "", "data/__init__.py": "",
                       "data/source.py": "from pkg.data.benchmark import SETS\n",
                       "data/benchmark.py": "def source():\n    from .source import Source\n",
                       "data/alone.py": "import pkg.data.source\n"}.items():
        (package / path).write_text(code)
    graph = import_graph(package, "pkg")
    assert graph["pkg.data.alone"] == {"pkg.data.source"}
    assert import_circles(graph) == [["pkg.data.benchmark", "pkg.data.source", "pkg.data.benchmark"]]
