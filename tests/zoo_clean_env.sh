#!/usr/bin/env bash
# The model zoo's gates on an exported bundle, in a fresh virtual environment without this repository:
# only MONAI, PyTorch and NumPy at the versions metadata.json names, the packages of its
# required_packages_version, and the zoo's own tools (ONNX export and runtime; black, isort and flake8 with
# the zoo's settings for the code in scripts/).
# Usage: bash tests/zoo_clean_env.sh EXPORTED_BUNDLE_FOLDER [VENV_DIR]   (a folder written by export-bundle)
set -euo pipefail
bundle="$(cd "$1" && pwd)"
venv="${2:-.venv-zoo}"
here="$(cd "$(dirname "$0")" && pwd)"
python -m venv "$venv"
venv="$(cd "$venv" && pwd)"
requirements="$("$venv/bin/python" - "$bundle/configs/metadata.json" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
pins = {"monai": meta["monai_version"], "torch": meta["pytorch_version"], "numpy": meta["numpy_version"],
        **meta["required_packages_version"]}
print(" ".join(f"{name}=={version}" for name, version in pins.items()))
PY
)"
# shellcheck disable=SC2086
"$venv/bin/pip" install --quiet $requirements onnx onnxruntime onnxscript black isort flake8 flake8-bugbear \
    flake8-comprehensions pep8-naming
cd "$bundle"
if "$venv/bin/python" -c "import custom" 2>/dev/null; then
    echo "this repository's package is importable in $venv: not a clean environment" >&2
    exit 1
fi
"$venv/bin/python" "$here/zoo_gates.py"
# the code checks as the zoo runs them: from its repository root, on models/<bundle>/scripts
zoo_root="$(mktemp -d)"
mkdir -p "$zoo_root/models/$(basename "$bundle")"
cp -r scripts "$zoo_root/models/$(basename "$bundle")/"
cd "$zoo_root"
"$venv/bin/python" -m black --check --line-length 120 --target-version py37 --target-version py38 \
    --target-version py39 models
"$venv/bin/python" -m isort --check-only --profile black --line-length 120 --project models models
"$venv/bin/python" -m flake8 --select B,C,E,F,N,P,T4,W,B9 --max-line-length 120 \
    --ignore E203,E501,E741,W503,W504,C408,N812,B023 --per-file-ignores "__init__.py:F401,__main__.py:F401" models
echo "all zoo gates passed in a clean environment"
