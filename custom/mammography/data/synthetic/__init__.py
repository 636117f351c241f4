"""Synthetic screening exams in the VinDr-Mammo layout, for tests and benchmarks without real data."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from custom.mammography.data.synthetic.vindr import (
    PRESETS,
    SYNTHETIC_VERSION,
    RenderedBreast,
    StudyPlan,
    generate_vindr_like,
    plan_studies,
    render_study,
    synthetic_version_of,
)

__all__ = ["PRESETS", "SYNTHETIC_VERSION", "RenderedBreast", "StudyPlan", "generate_vindr_like", "plan_studies",
           "render_study", "synth", "synthetic_version_of"]


def synth(out: str | Path, studies: int = 120, seed: int = 0, preset: str = "default") -> Path:
    """CLI entry (`python -m custom synth`): write the data set with a progress bar, then one summary line."""
    start = time.perf_counter()
    root = generate_vindr_like(out, studies, seed, preset, progress=True)
    findings = pd.read_csv(root / "finding_annotations.csv")
    boxed = findings[findings["xmin"].notna()]
    print(
        f"synthetic VinDr-like data in {root}: {studies} studies, {studies * 4} images, "
        f"{len(boxed)} finding boxes in {boxed['study_id'].nunique()} studies, "
        f"{time.perf_counter() - start:.1f} s"
    )
    return root
