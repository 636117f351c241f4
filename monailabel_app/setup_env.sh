#!/usr/bin/env bash
# The MONAI Label environment: its own virtual environment, because MONAI Label pins packages that clash with
# this project's. It sees this project's installed packages (--system-site-packages), so torch is not
# downloaded again. pydicom < 3: pydicom-seg, which MONAI Label imports, breaks on pydicom 3.
# Usage: bash monailabel_app/setup_env.sh [VENV_DIR]   (default .venv-monailabel); prints the environment's python.
set -euo pipefail
venv="${1:-.venv-monailabel}"
python -m venv --system-site-packages "$venv"
"$venv/bin/pip" install --quiet "monailabel==0.8.5" "pydicom<3"
echo "$venv/bin/python"
