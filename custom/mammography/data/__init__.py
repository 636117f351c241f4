"""Reading mammograms, data-set manifests, synthetic exams and contralateral pair datasets.

The names users need are importable from here (``from custom.mammography.data import read_mammogram, LoadMammogramd``);
each is loaded from its module on first use, so that importing one light module of the package (the
manifest, say) does not import MONAI and torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "custom.mammography.data.reader": ("read_mammogram", "identify"),
    "custom.mammography.data.transforms": ("LoadMammogram", "LoadMammogramd"),
    "custom.mammography.data.errors": ("MammogramReadError",),
    "custom.skip_report": ("SkipReport",),
    "custom.mammography.data.manifest": ("MANIFEST_COLUMNS", "build_manifest", "read_manifest", "write_manifest", "findings_of",
                             "assign_patient_splits", "summarise"),
    "custom.mammography.data.readers.registry": ("READERS", "reader_for"),
    "custom.mammography.data.check": ("check_images",),
    "custom.mammography.data.exam_cache": ("ExamRecord", "prepare_exams"),
    "custom.mammography.data.pair_dataset": ("ContralateralPairDataset", "LabelledPatchDataset"),
    "custom.mammography.data.source": ("MammoDataSource",),
    "custom.mammography.data.presets": ("patch_preset",),
    "custom.mammography.data.synthetic": ("generate_vindr_like",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
