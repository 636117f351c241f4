"""Which results a run writes, how they are named, and the rule for a second run on the same study.

Every run writes new series and never touches the study's own images or earlier results. The series say who
wrote them, in a form a radiologist reads in the viewer's series list and this module reads back:

    ``<bundle> <version> run <n>: candidates``  (the DICOM SR)
    ``<bundle> <version> run <n>: heatmap``     (the colour overlays)

``<bundle>`` is the bundle's folder name (its model-zoo id), ``<version>`` its ``metadata.json`` version.
**The rule for a second run**: run numbers count per bundle and version; a second run of the same bundle and
version on the same study adds run 2, clearly numbered, next to run 1 (nothing is replaced or deleted: DICOMweb
has no standard deletion, and results a radiologist may have read stay as they were). ``--if_done skip``
instead stores nothing when the study already holds a run of that bundle and version (what ``--watch`` and
the MONAI Label app do).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

KINDS = {"candidates": ("SR", 9000), "heatmap": ("OT", 9500)}  # modality, SeriesNumber base (+ run number)
_DESCRIPTION = re.compile(r"^(?P<bundle>\S+) (?P<version>\S+) run (?P<run>\d+): (?P<kind>candidates|heatmap)$")
MAX_DESCRIPTION = 64  # SeriesDescription is a DICOM LO: at most 64 characters
IF_DONE = ("new_run", "skip")


@dataclass(frozen=True)
class BundleIdentity:
    """What names a bundle in the results: its model-zoo id (the folder name) and version."""

    name: str
    version: str

    @classmethod
    def of(cls, bundle: str | Path) -> BundleIdentity:
        folder = Path(bundle).resolve()
        metadata = folder / "configs" / "metadata.json"
        if not metadata.is_file():
            raise FileNotFoundError(f"{metadata}: not found; --bundle must be a bundle folder (configs/metadata.json)")
        version = str(json.loads(metadata.read_text()).get("version", "")).strip()
        if not version or " " in version:
            raise ValueError(f"{metadata}: no usable 'version' ({version!r})")
        return cls(folder.name.replace(" ", "_"), version)


@dataclass(frozen=True)
class ResultSeries:
    """A result series found in a study."""

    series_uid: str
    bundle: str
    version: str
    run: int
    kind: str


def description(bundle: BundleIdentity, run: int, kind: str) -> str:
    text = f"{bundle.name} {bundle.version} run {run}: {kind}"
    if len(text) > MAX_DESCRIPTION:
        raise ValueError(f"series description {text!r} is longer than DICOM's {MAX_DESCRIPTION} characters: "
                         "shorten the bundle's folder name or version")
    return text


def series_number(run: int, kind: str) -> int:
    return KINDS[kind][1] + run


def result_series(series: Dataset) -> ResultSeries | None:
    """The result this series holds, when an earlier run wrote it (by its description and modality)."""
    found = _DESCRIPTION.match(str(series.get("SeriesDescription", "") or "").strip())
    if found is None or str(series.get("Modality", "")).upper() != KINDS[found["kind"]][0]:
        return None
    return ResultSeries(str(series.SeriesInstanceUID), found["bundle"], found["version"], int(found["run"]),
                        found["kind"])


def runs_of(results: list[ResultSeries], bundle: BundleIdentity) -> list[int]:
    """The run numbers the study already holds for this bundle and version, ascending."""
    return sorted({item.run for item in results if (item.bundle, item.version) == (bundle.name, bundle.version)})


def next_run(results: list[ResultSeries], bundle: BundleIdentity) -> int:
    return max(runs_of(results, bundle), default=0) + 1
