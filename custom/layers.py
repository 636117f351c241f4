"""The package's layers, declared once: the modality-free core (the top-level packages), one package per modality
on top of it (``custom/mammography``, ``custom/ultrasound``), and the tools that work on any bundle.

``tests/test_layers.py`` checks that the core imports nothing of a modality and that every top-level module is
in exactly one layer; the model-zoo export ships the core plus the modalities a bundle's configs name.
"""

from __future__ import annotations

import re

CORE = ("custom.networks", "custom.losses", "custom.labelling", "custom.ssl", "custom.training", "custom.evaluation",
        "custom.distributed", "custom.bundle_config", "custom.bundle_location", "custom.skip_report",
        "custom.layers", "custom.atomic_write", "custom.clear_errors", "custom.bundle_settings",
        "custom.dataset_identity", "custom.run_folder")
MODALITIES = {
    "mammography": ("custom.mammography",),
    "ultrasound": ("custom.ultrasound",),
}
# the command line, the exporter and the PACS connection (DICOMweb in, DICOM SR out, on top of the mammography
# layer): they reach a modality's code from outside a bundle, and an exported bundle ships none of them
TOOLS = ("custom.cli", "custom.__main__", "custom.zoo", "custom.pacs")


def modalities_named_in(text: str) -> list[str]:
    """The modalities whose packages ``text`` (a config's or a module's source) refers to, in declared order."""
    return [modality for modality, packages in MODALITIES.items()
            if any(re.search(rf"\b{re.escape(package)}\b", text) for package in packages)]
