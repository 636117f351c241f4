"""A screening study on the PACS: its four views found and checked from the headers, then retrieved.

Everything that can make a study unusable is found from QIDO-RS and the WADO-RS headers (no pixel data), so a
bad study costs a second and nothing is written. The rules (``docs/pacs.md``, "Which studies are read"):

- the study must exist and hold at least one MG series;
- a series of another imaging modality (US, MR, CT, ...) is refused: this is a screening-mammography tool and
  a study mixing modalities is not one it can reason about; documents about the images (SR, PR, KO, SEG, ...)
  are left alone, and so are the results earlier runs stored (``custom.pacs.runs``);
- MG objects that are no single 2-D mammogram (tomosynthesis volumes, CBIS-DDSM masks and crops, presentation
  states) are left out, each named in a note; where a view has a "FOR PRESENTATION" image, a "FOR PROCESSING"
  one of the same view is left out too;
- every image must say its laterality and view (the project's own rules, ``custom.mammography.data.identity``);
- exactly one image per breast and view, and all four of L CC, R CC, L MLO, R MLO.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydicom.dataset import Dataset

from custom.mammography.data.dicom import not_a_mammogram
from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.identity import dicom_hints, resolve
from custom.pacs.connection import Pacs
from custom.pacs.errors import PacsError
from custom.pacs.runs import ResultSeries, result_series

logger = logging.getLogger(__name__)
SCREENING_VIEWS = (("L", "CC"), ("R", "CC"), ("L", "MLO"), ("R", "MLO"))
# DICOM objects that describe images rather than being images: never a reason to refuse a study
DOCUMENT_MODALITIES = ("SR", "PR", "KO", "SEG", "REG", "DOC", "AU", "RWV", "PLAN", "FID")
RETRIEVE_THREADS = 4


@dataclass(frozen=True)
class StudyImage:
    """One mammogram of the study: where it is on the PACS, its breast and view, its header (no pixels), and
    once retrieved, the local file."""

    series_uid: str
    sop_uid: str
    laterality: str
    view: str
    header: Dataset
    path: Path | None = None

    @property
    def name(self) -> str:
        return f"{self.laterality} {self.view}"


@dataclass
class ScreeningStudy:
    """The four views of one study (in ``SCREENING_VIEWS`` order), the results earlier runs stored, and notes
    on what was left out."""

    study_uid: str
    images: list[StudyImage]
    results: list[ResultSeries] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_study(pacs: Pacs, study_uid: str) -> ScreeningStudy:
    """The study's four views, found and checked from QIDO-RS and the headers alone; a ``PacsError`` otherwise."""
    series = pacs.series_of(study_uid)
    if not series:
        raise PacsError(f"study {study_uid} is not on the PACS at {pacs.url} (QIDO-RS lists no series for it): "
                        "check the StudyInstanceUID")
    mammography, results, notes = [], [], []
    for item in series:
        modality = str(item.get("Modality", "")).upper()
        earlier = result_series(item)
        if earlier is not None:
            results.append(earlier)
        elif modality == "MG":
            mammography.append(item)
        elif modality in DOCUMENT_MODALITIES:
            notes.append(f"left alone: {_series_name(item)} ({modality}, a document about images)")
        else:
            raise PacsError(f"study {study_uid} holds a {modality or 'modality-less'} series ({_series_name(item)}): "
                            "pacs-detect reads screening mammography studies, whose images are all MG")
    if not mammography:
        raise PacsError(f"study {study_uid} holds no mammography (MG) series")
    with ThreadPoolExecutor(RETRIEVE_THREADS) as pool:  # one request per series, several at once
        headers = list(pool.map(lambda item: pacs.series_metadata(study_uid, str(item.SeriesInstanceUID)), mammography))
    candidates = [image for item, found in zip(mammography, headers) for image in
                  (_mammogram(header, item, notes) for header in found) if image is not None]
    return ScreeningStudy(study_uid, _four_views(study_uid, candidates, notes), results, notes)


def _series_name(series: Dataset) -> str:
    number, description = series.get("SeriesNumber"), str(series.get("SeriesDescription", "") or "").strip()
    return f"series {number if number is not None else '?'} {description!r} ({series.SeriesInstanceUID})"


def _mammogram(header: Dataset, series: Dataset, notes: list[str]) -> StudyImage | None:
    """The image, identified; None (with a note) for an MG object that is no single mammogram."""
    sop_uid = str(header.get("SOPInstanceUID", ""))
    label = f"image {sop_uid} of {_series_name(series)}"
    reason = not_a_mammogram(header)
    if reason is not None:
        notes.append(f"left out: {label}: {reason}")
        return None
    try:
        # the label is made of UIDs only, so no word in it can pass for a laterality or view
        laterality, view = resolve(f"{series.SeriesInstanceUID}/{sop_uid}", dicom_hints(header))
    except MammogramReadError as error:
        raise PacsError(f"{label}: {error.problem}") from None
    return StudyImage(str(series.SeriesInstanceUID), sop_uid, laterality, view, header)


def _four_views(study_uid: str, images: list[StudyImage], notes: list[str]) -> list[StudyImage]:
    """One image per breast and view, all four views; a ``PacsError`` naming what is missing or doubled."""
    by_view: dict[tuple[str, str], list[StudyImage]] = defaultdict(list)
    for image in images:
        by_view[(image.laterality, image.view)].append(image)
    for key, found in by_view.items():
        presentation = [image for image in found if _intent(image) != "FOR PROCESSING"]
        if presentation and len(presentation) < len(found):
            for image in found:
                if image not in presentation:
                    notes.append(f"left out: image {image.sop_uid} ({image.name}): a FOR PROCESSING image beside a "
                                 "FOR PRESENTATION one of the same view")
            by_view[key] = presentation
        if len(by_view[key]) > 1:
            listed = ", ".join(f"{image.sop_uid} (series {image.series_uid})" for image in by_view[key])
            raise PacsError(f"study {study_uid} holds {len(by_view[key])} {key[0]} {key[1]} images ({listed}): "
                            "pacs-detect needs exactly one image per breast and view")
    present = [key for key in SCREENING_VIEWS if key in by_view]
    missing = [key for key in SCREENING_VIEWS if key not in by_view]
    if missing:
        sides = {side for side, _ in present}
        views = {view for _, view in present}
        if len(sides) == 1:
            why = f"it shows the {'left' if sides == {'L'} else 'right'} breast only"
        elif len(views) == 1:
            why = f"it holds {next(iter(views))} views only"
        else:
            why = f"it lacks {', '.join(' '.join(key) for key in missing)}"
        have = ", ".join(" ".join(key) for key in present) or "none"
        raise PacsError(f"study {study_uid} is not a four-view screening exam: {why} (has {have}). Asymmetry "
                        "detection compares the two breasts in both views: it needs L CC, R CC, L MLO and R MLO")
    return [by_view[key][0] for key in SCREENING_VIEWS]


def _intent(image: StudyImage) -> str:
    return str(image.header.get("PresentationIntentType", "") or "").strip().upper()


def retrieve_images(pacs: Pacs, study: ScreeningStudy, folder: str | Path) -> ScreeningStudy:
    """The study with every image retrieved, as stored, into ``folder/<SOPInstanceUID>.dcm`` (in parallel:
    the PACS serves several requests at once, and waiting on the network holds no lock)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def fetch(image: StudyImage) -> StudyImage:
        path = folder / f"{image.sop_uid}.dcm"
        path.write_bytes(pacs.instance_bytes(study.study_uid, image.series_uid, image.sop_uid))
        return replace(image, path=path)

    with ThreadPoolExecutor(RETRIEVE_THREADS) as pool:
        images = list(pool.map(fetch, study.images))
    return replace(study, images=images)


def stored_results(pacs: Pacs, study_uid: str) -> list[ResultSeries]:
    """The result series the study holds now (read again just before storing: another run may have added one)."""
    return [found for found in map(result_series, pacs.series_of(study_uid)) if found is not None]
