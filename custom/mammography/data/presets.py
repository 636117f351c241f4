"""Patch presets: patch size in pixels at a pixel spacing, both covering about 5 cm of breast."""

from __future__ import annotations

PATCH_PRESETS: dict[str, dict[str, float]] = {
    # CPU-friendly default: 96 px at 0.5 mm (48 mm field of view).
    "96": {"patch_size": 96, "spacing": 0.5},
    # The paper's larger patches: 256 px at 0.2 mm (51 mm field of view); meant for a GPU.
    "256": {"patch_size": 256, "spacing": 0.2},
}


def patch_preset(name: str | int) -> dict[str, float]:
    """Looks a preset up by name ("96" or "256"), with a clear error for anything else."""
    key = str(name)
    if key not in PATCH_PRESETS:
        raise ValueError(f"unknown patch preset {name!r}; choose one of {sorted(PATCH_PRESETS)}")
    return dict(PATCH_PRESETS[key])
