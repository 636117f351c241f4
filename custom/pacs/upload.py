"""Putting studies on a PACS for the demo, the bench and the tests: synthetic screening exams, sent by STOW-RS."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pydicom

from custom.mammography.data.synthetic import generate_vindr_like
from custom.pacs.connection import Pacs


def upload_files(pacs: Pacs, files: list[Path]) -> list[str]:
    """Stores the DICOM ``files`` (one STOW-RS request per study) and returns their StudyInstanceUIDs, in order."""
    by_study: dict[str, list] = defaultdict(list)
    for path in files:
        dataset = pydicom.dcmread(path)
        by_study[str(dataset.StudyInstanceUID)].append(dataset)
    for study, datasets in by_study.items():
        pacs.store(datasets, study)
    return list(by_study)


def synthetic_studies(folder: str | Path, studies: int, seed: int, preset: str = "default") -> dict[str, list[Path]]:
    """Writes ``studies`` synthetic screening exams (the generator's VinDr layout) to ``folder``: their files by
    StudyInstanceUID, in the order written."""
    root = generate_vindr_like(folder, studies=studies, seed=seed, preset=preset)
    by_study: dict[str, list[Path]] = {}
    for path in sorted((root / "images").glob("*/*.dicom")):
        study = str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["StudyInstanceUID"]).StudyInstanceUID)
        by_study.setdefault(study, []).append(path)
    return by_study
