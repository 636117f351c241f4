"""A self-contained copy of a bundle for the MONAI model zoo.

Zoo bundles carry their own code (in ``scripts/``) and run where only the packages of
``required_packages_version`` are installed. The source bundle in this repository imports the installed
``custom`` package instead; the export copies the part of that package the bundle runs (the core and the
modalities its configs name, :mod:`custom.layers`) into ``scripts/custom/`` and points every config and every
import of the copy at ``scripts.custom``. MONAI puts the bundle folder on ``sys.path`` when it runs
a config, as the zoo's commands assume (run from the bundle folder).

The trained weights (``models/model.pt``, 45 MB, above the zoo's 25 MB limit for files in its repository)
go into the exported folder and zip, and ``large_files.yml`` says where the zoo hosts them, with their hash.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from custom.mammography.data.files import file_sha256
from custom.mammography.detection.bundle import calibration_is_current
from custom.layers import CORE, MODALITIES, modalities_named_in
from custom.atomic_write import atomic_write_json, replaced_when_done

PACKAGE = "custom"
VENDORED = "scripts"
# the mammography bundle's detector calibration, which its inference.json reads next to the weights
CALIBRATION = "detector.json"
# where the model zoo serves a bundle's large files once the bundle is accepted
DEFAULT_WEIGHTS_URL = "https://huggingface.co/MONAI/{name}/resolve/main/models/model.pt"
# written into an export so that a later export may replace the folder, and no other folder is ever replaced
MARKER = ".exported_bundle"
# The first step of every exported config's ``initialize``: the bundle folder on ``sys.path``, so that the vendored
# ``scripts.custom`` imports wherever the bundle is run from. MONAI adds that folder itself in ``ConfigWorkflow.run``
# only, after ``initialize``, and ``monai.bundle.load(..., workflow_type=...)`` never runs: loading a zoo bundle from
# another working directory would fail on the first ``scripts.`` target. A config expression has no handle on its
# file, so the step asks the running ``ConfigWorkflow`` (on the call stack) where its configs are, as MONAI's
# ``run`` does: their folder's parent when it is named ``configs``.
BUNDLE_ON_SYS_PATH = (
    "$sys.path.insert(1, next((str(root.parent if root.name == 'configs' else root) for root in "
    "(frame.f_locals['self'].config_root_path.resolve() for frame, *_ in inspect.stack(0) "
    "if isinstance(frame.f_locals.get('self'), monai.bundle.ConfigWorkflow))), os.getcwd()))"
)
BUNDLE_ON_SYS_PATH_IMPORTS = ["$import inspect", "$import os", "$import sys", "$import monai"]
# a module path of the package in code or config text: ``custom.`` followed by a module name
_MODULE_REFERENCE = re.compile(rf"(?<![\w.]){PACKAGE}\.(?=[A-Za-z_])")
_IMPORT_STATEMENT = re.compile(rf"^(\s*)(from|import) {PACKAGE}(?=[\s.])", re.MULTILINE)
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
# the model zoo's code-format settings (its setup.cfg and pyproject.toml)
ZOO_LINE_LENGTH = 120
ZOO_BLACK_TARGETS = ("PY37", "PY38", "PY39")
ZOO_ISORT = {"profile": "black", "line_length": ZOO_LINE_LENGTH, "known_first_party": ["models"],
             "known_third_party": [VENDORED]}
ZOO_FLAKE8 = ["--select", "B,C,E,F,N,P,T4,W,B9", "--max-line-length", str(ZOO_LINE_LENGTH), "--ignore",
              "E203,E501,E741,W503,W504,C408,N812,B023", "--per-file-ignores", "__init__.py:F401,__main__.py:F401"]


@dataclass(frozen=True)
class ExportedBundle:
    """Where the export went: the bundle folder, its zip, and the weights' sha256."""

    folder: Path
    archive: Path
    weights_sha256: str
    calibration: Path | None  # models/detector.json, which inference.json needs; None when none was current
    needs_calibration: bool  # whether the bundle's configs read a detector calibration at all


def export_bundle(bundle: str | Path, out: str | Path, weights: str | Path | None = None,
                  weights_url: str | None = None) -> ExportedBundle:
    """Writes ``out/<name>/`` and ``out/<name>_v<version>.zip`` from the bundle folder ``bundle``.

    ``weights``: the network's ``state_dict`` (default: the bundle's ``models/model.pt``, which its training
    config writes). Where the configs read a detector calibration, the one next to the weights
    (``detector.json``, a few kB) goes along when it is not older than the weights. ``weights_url``: where the
    weights will be downloaded from (default: the model zoo's hosting of the bundle's version).

    Raises:
        FileNotFoundError: no such bundle, or no weights (train first or pass ``weights``).
        ValueError: metadata that breaks the zoo's version rules, weights that are no ``state_dict``, or an
            existing output folder that an export did not write.
    """
    bundle = Path(bundle).resolve()  # "." names the bundle folder itself: the bundle's name is its folder's
    meta_file = bundle / "configs" / "metadata.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{bundle}: not a bundle folder (no configs/metadata.json)")
    metadata = json.loads(meta_file.read_text())
    check_version_rules(metadata, meta_file)
    weights = Path(weights) if weights is not None else bundle / "models" / "model.pt"
    _check_weights(weights)
    name, version = bundle.name, metadata["version"]
    folder, archive_path = Path(out) / name, Path(out) / f"{name}_v{version}.zip"
    previous_zip = _check_replaceable(folder, archive_path)

    Path(out).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as scratch:  # same disk: the move is a rename
        staging = Path(scratch) / name
        _copy_bundle_files(bundle, staging)
        _vendor_package(staging / VENDORED, shipped_packages(bundle))
        (staging / "models").mkdir()
        shutil.copyfile(weights, staging / "models" / "model.pt")
        digest = file_sha256(staging / "models" / "model.pt")
        url = (weights_url or DEFAULT_WEIGHTS_URL).format(name=name, version=version)
        (staging / "large_files.yml").write_text(large_files_yml("models/model.pt", url, digest))
        calibration = weights.parent / CALIBRATION
        needs_calibration = _configs_read(bundle, CALIBRATION)
        if needs_calibration and calibration_is_current(calibration, weights):
            shutil.copyfile(calibration, staging / "models" / CALIBRATION)
        marker = {"source": str(bundle), "version": version, "files": _file_digests(staging), "zip": previous_zip}
        atomic_write_json(staging / MARKER, marker)
        if folder.exists():  # every file in it was written by an export (checked above)
            shutil.rmtree(folder)
        shutil.move(str(staging), folder)
    archive = _zip(folder, archive_path)
    atomic_write_json(folder / MARKER, {**marker, "zip": file_sha256(archive)})
    shipped = folder / "models" / CALIBRATION
    return ExportedBundle(folder, archive, digest, shipped if shipped.is_file() else None, needs_calibration)


def shipped_packages(bundle: Path) -> tuple[str, ...]:
    """The packages an export of ``bundle`` vendors: the core and every modality its configs refer to (the
    command line and this exporter stay behind: the exporter's tools, black and isort, are not shipped)."""
    configs = "".join(path.read_text() for path in sorted((bundle / "configs").glob("*.json")))
    return CORE + tuple(package for modality in modalities_named_in(configs) for package in MODALITIES[modality])


def check_version_rules(metadata: dict, source: Path | str = "metadata.json") -> None:
    """The zoo's rules: ``version`` is MAJOR.MINOR.PATCH, the changelog has an entry for it, and it is the
    newest entry, listed first."""
    version = metadata.get("version", "")
    changelog = metadata.get("changelog") or {}
    if not _SEMVER.match(version):
        raise ValueError(f"{source}: version {version!r} is not MAJOR.MINOR.PATCH")
    bad = [key for key in changelog if not _SEMVER.match(key)]
    if bad:
        raise ValueError(f"{source}: changelog keys {bad} are not MAJOR.MINOR.PATCH")
    if version not in changelog:
        raise ValueError(f"{source}: version {version} has no changelog entry")
    ordered = sorted(changelog, key=lambda key: tuple(map(int, key.split("."))), reverse=True)
    if list(changelog) != ordered:
        raise ValueError(f"{source}: changelog entries are not listed newest first: {list(changelog)}")
    if ordered[0] != version:
        raise ValueError(f"{source}: version {version} is older than the changelog's newest entry {ordered[0]}")


def large_files_yml(path: str, url: str, sha256: str) -> str:
    """The zoo's ``large_files.yml`` for one file."""
    quoted = json.dumps  # a JSON string is a YAML string
    return (
        "large_files:\n"
        f"  - path: {quoted(path)}\n"
        f"    url: {quoted(url)}\n"
        f"    hash_val: {quoted(sha256)}\n"
        f"    hash_type: {quoted('sha256')}\n"
    )


def vendored_text(text: str) -> str:
    """Code or config text with every module path of the package moved under ``scripts``."""
    text = _IMPORT_STATEMENT.sub(lambda m: f"{m.group(1)}{m.group(2)} {VENDORED}.{PACKAGE}", text)
    return _MODULE_REFERENCE.sub(f"{VENDORED}.{PACKAGE}.", text)


def exported_config(text: str) -> str:
    """A bundle config as exported: module paths under ``scripts``, and the bundle folder put on ``sys.path`` first
    thing in its ``initialize`` (:data:`BUNDLE_ON_SYS_PATH`), if it has one."""
    config = json.loads(vendored_text(text))
    if isinstance(config.get("initialize"), list):
        config["initialize"] = [BUNDLE_ON_SYS_PATH, *config["initialize"]]
        key = "imports" if "imports" in config else "+imports"  # an overlay adds to the imports of the config below
        imports = config.get(key, [])
        config[key] = [*imports, *(line for line in BUNDLE_ON_SYS_PATH_IMPORTS if line not in imports)]
    return json.dumps(config, indent=4, ensure_ascii=False) + "\n"


def _check_weights(weights: Path) -> None:
    if not weights.is_file():
        raise FileNotFoundError(
            f"{weights}: no trained weights; run the README's training command first, or pass --weights")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"{weights}: not a PyTorch state_dict file ({error})") from error
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{weights}: not a state_dict (a mapping of parameter names to tensors)")


def _check_replaceable(folder: Path, archive: Path) -> str | None:
    """An earlier export may be replaced only when it holds nothing but what that export wrote, unchanged (its
    marker lists every file and its sha256, and the zip's): an export never deletes a file of the user's.
    Returns the sha256 of the earlier export's zip (None when there is none)."""
    if archive.exists() and not folder.exists():
        raise ValueError(f"{archive} exists and was not written by an export: move it away or choose another --out")
    if not folder.exists():
        return None
    try:
        marker = json.loads((folder / MARKER).read_text())
        recorded = marker["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"{folder} exists and was not written by an export (or by one that listed no files): move "
                         "it away or choose another --out") from None
    foreign = [path for path, digest in _file_digests(folder).items() if recorded.get(path) != digest]
    if foreign:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ValueError(f"{folder} holds files the export did not write, or that changed since ({listed}): move "
                         "them away or choose another --out")
    if archive.exists() and file_sha256(archive) != marker.get("zip"):
        raise ValueError(f"{archive} was not written by the export in {folder}, or changed since: move it away or "
                         "choose another --out")
    return marker.get("zip") if archive.exists() else None


def _file_digests(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder`` but the export marker."""
    return {path.relative_to(folder).as_posix(): file_sha256(path) for path in sorted(folder.rglob("*"))
            if path.is_file() and path.relative_to(folder).as_posix() != MARKER}


def _copy_bundle_files(bundle: Path, staging: Path) -> None:
    """LICENSE, docs and configs; configs with the package's module paths moved under ``scripts``."""
    staging.mkdir(parents=True)
    shutil.copyfile(bundle / "LICENSE", staging / "LICENSE")
    shutil.copytree(bundle / "docs", staging / "docs")
    (staging / "configs").mkdir()
    for config in sorted((bundle / "configs").iterdir()):
        if config.suffix == ".json" and config.name != "metadata.json":
            (staging / "configs" / config.name).write_text(exported_config(config.read_text()))
        elif config.is_file():
            shutil.copyfile(config, staging / "configs" / config.name)


def _configs_read(bundle: Path, name: str) -> bool:
    return any(name in path.read_text() for path in (bundle / "configs").glob("*.json"))


def _vendor_package(scripts: Path, packages: tuple[str, ...]) -> None:
    """The Python files of the installed package's ``packages`` (and its ``__init__``) under ``scripts/custom``,
    imports rewritten, formatted as the zoo's code checks want it (:func:`zoo_formatted`)."""
    source = Path(__file__).resolve().parents[1]
    top_level = {name.split(".")[1] for name in packages}
    scripts.mkdir()
    (scripts / "__init__.py").write_text('"""The code of this bundle (vendored from the mammo-ssl package)."""\n')
    for path in sorted(source.rglob("*.py")):
        first = path.relative_to(source).parts[0]
        if first != "__init__.py" and first.removesuffix(".py") not in top_level:
            continue
        target = scripts / PACKAGE / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        code = zoo_formatted(vendored_text(path.read_text(encoding="utf-8")), target)
        target.write_text(code, encoding="utf-8")


def zoo_formatted(code: str, path: Path | str = "<code>") -> str:
    """``code`` formatted with black and isort under the model zoo's settings (line length 120, black's
    import profile, Python 3.7 to 3.9 targets; ``scripts`` is not first party there, seen from the zoo's root).

    Raises:
        ImportError: black or isort is not installed (``pip install "mammo-ssl[zoo]"``).
    """
    try:
        import black
        import isort
    except ImportError as error:
        raise ImportError(f"exporting formats the bundle's code as the model zoo requires, which needs black and "
                          f"isort: pip install black isort ({error})") from error
    code = isort.code(code, **ZOO_ISORT)
    mode = black.Mode(line_length=ZOO_LINE_LENGTH, target_versions={black.TargetVersion[v] for v in ZOO_BLACK_TARGETS})
    try:
        return black.format_str(code, mode=mode)
    except black.InvalidInput as error:
        raise ValueError(f"{path}: black cannot parse it for the zoo's Python targets ({error})") from error


def _zip(folder: Path, archive: Path) -> Path:
    """The folder zipped with the bundle's name as its top folder, as ``monai.bundle.download`` unpacks it."""
    with replaced_when_done(archive) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != MARKER:
                zipped.write(path, Path(folder.name) / path.relative_to(folder))
    return archive
