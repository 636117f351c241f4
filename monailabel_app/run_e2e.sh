#!/usr/bin/env bash
# The MONAI Label end-to-end tests: make the MONAI Label environment if it is missing, then start a real
# server on a local datastore, and one on an Orthanc PACS (needs orthanc and orthanc-dicomweb), and call them as a
# viewer does (tests/test_monailabel_server.py, tests/test_monailabel_pacs.py).
# Usage, from the repository root, with the project installed: bash monailabel_app/run_e2e.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-monailabel}"
if [ ! -x "$venv/bin/monailabel" ]; then
    bash monailabel_app/setup_env.sh "$venv"
fi
MONAILABEL_PYTHON="$(cd "$venv/bin" && pwd)/python" python -m pytest -q -s tests/test_monailabel_server.py tests/test_monailabel_us_bundle.py tests/test_monailabel_pacs.py
