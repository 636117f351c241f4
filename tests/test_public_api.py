"""Every name the README, the docs and the docstrings cite can be imported, where they say it can."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import custom.mammography.data
from custom.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("bundles/*/docs/*.md"))]
SOURCES = sorted((ROOT / "custom").rglob("*.py"))
IMPORT = re.compile(r"from (custom[\w.]*) import ([\w, ]+)")
DOTTED = re.compile(r"`+(custom(?:\.\w+)+)`+")
CALLED = re.compile(r"`(\w+)\(")


def _texts() -> dict[str, str]:
    texts = {str(path.relative_to(ROOT)): path.read_text() for path in DOCS}
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef)))]
        texts[str(path.relative_to(ROOT))] = "\n".join(ast.get_docstring(n) or "" for n in nodes)
    return texts


def _resolve(dotted: str):
    """The module or attribute ``dotted`` names: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            target = getattr(target, name)
        return target
    raise ModuleNotFoundError(dotted)


def test_the_documented_entry_points_import_from_the_package():
    from custom.mammography.data import LoadMammogramd, MammogramReadError, SkipReport, build_manifest, read_mammogram

    assert callable(read_mammogram) and callable(build_manifest)
    assert LoadMammogramd.__module__ == "custom.mammography.data.transforms" and issubclass(MammogramReadError, Exception)
    assert SkipReport().summary() == "no input skipped"


def test_every_exported_name_imports():
    for package in ("custom.mammography.data", "custom.mammography.detection", "custom.networks", "custom.losses", "custom.labelling", "custom.mammography.engines",
                    "custom.ssl", "custom.evaluation"):
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", []):
            assert getattr(module, name) is not None, f"{package}.{name}"
    with pytest.raises(AttributeError, match="no attribute 'read_mamogram'"):
        custom.mammography.data.read_mamogram  # noqa: B018 - a misspelt name must not import silently


def test_every_cited_import_and_dotted_name_resolves():
    cited = 0
    for source, text in _texts().items():
        for module, names in IMPORT.findall(text):
            for name in (n.strip() for n in names.split(",") if n.strip()):
                assert hasattr(importlib.import_module(module), name), f"{source}: from {module} import {name}"
                cited += 1
        for dotted in DOTTED.findall(text):
            try:
                _resolve(dotted)
            except (ModuleNotFoundError, AttributeError) as error:
                pytest.fail(f"{source} cites `{dotted}`, which does not resolve: {error}")
            cited += 1
    assert cited >= 30  # the scan itself works


def test_data_functions_the_docs_call_import_from_the_data_package():
    """A data function the docs show being called is user API: ``from custom.mammography.data import`` must find it."""
    defined = {}
    for path in sorted((ROOT / "custom" / "mammography" / "data").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                defined[node.name] = path.name
    called = {name for path in DOCS for name in CALLED.findall(path.read_text()) if name in defined}
    assert {"read_mammogram", "LoadMammogramd", "read_manifest"} <= called
    assert called <= set(custom.mammography.data.__all__), sorted(called - set(custom.mammography.data.__all__))


def test_readme_commands_exist():
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `([\w-]+)", readme, flags=re.MULTILINE))
    assert listed == set(COMMANDS)


def test_every_documented_data_set_format_is_accepted(tmp_path):
    from custom.mammography.data import MammogramReadError, build_manifest

    documented = set()
    for path in DOCS:
        for choices in re.findall(r"(?:--format|--dataset_format)[ =`{]*((?:\w+[|,] ?)+\w+)", path.read_text()):
            documented |= set(re.split(r"[|,] ?", choices))
    assert {"vindr", "cbis", "inbreast", "csv"} <= documented
    for fmt in documented:
        with pytest.raises(MammogramReadError, match="not found"):  # accepted: it looks for its annotation file
            build_manifest(fmt, tmp_path)
