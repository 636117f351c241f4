"""The other breast of the same view and exam, found among a folder's images (a MONAI Label datastore).

A viewer asks for the heatmap of one image; the detector needs the other breast's image of the same view and
study too. Two images belong to one exam when their DICOM ``StudyInstanceUID`` agree, or, for files without
tags (PNG, NIfTI) and DICOM without the tag, when their names agree once the laterality and view words are
taken out: ``P0012_L_CC.png`` and ``P0012_R_CC.png``, ``exam7-left-mlo.nii.gz`` and ``exam7-right-mlo.nii.gz``.
Laterality and view come from the tags or the names, as for reading (:func:`custom.mammography.data.reader.identify`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from custom.mammography.data.dicom import read_header
from custom.mammography.data.errors import MammogramReadError
from custom.mammography.data.identity import LATERALITY_WORDS, VIEW_WORDS
from custom.mammography.data.reader import identify

_SUFFIXES = re.compile(r"(\.nii\.gz|\.nii|\.dcm|\.dicom|\.png)$", re.IGNORECASE)
_WORDS = {*LATERALITY_WORDS, *VIEW_WORDS}
OTHER_SIDE = {"L": "R", "R": "L"}


def study_key(path: str | Path) -> str:
    """What two images of one exam share: the DICOM StudyInstanceUID, else the name without side and view."""
    path = Path(path)
    try:
        uid = str(read_header(path).get("StudyInstanceUID", "")).strip()
    except MammogramReadError:
        uid = ""
    if uid:
        return f"uid:{uid}"
    words = re.split(r"[_\-\s.]+", _SUFFIXES.sub("", path.name))
    return "name:" + "_".join(word.lower() for word in words if word and word.upper() not in _WORDS)


def find_contralateral(image: str | Path, candidates: Iterable[str | Path]) -> Path:
    """The image among ``candidates`` that shows the other breast in the same view of the same exam.

    Raises:
        MammogramReadError: ``image`` names neither its laterality nor its view.
        LookupError: no such image, or more than one; the message says what was looked for.
    """
    image = Path(image)
    side, view = identify(image)
    key = study_key(image)
    wanted = OTHER_SIDE[side]
    matches = []
    for candidate in map(Path, candidates):
        if candidate.resolve() == image.resolve():
            continue
        try:
            if identify(candidate) != (wanted, view):
                continue
        except MammogramReadError:
            continue  # not a mammogram, or one that names no side or view: not the one wanted
        if study_key(candidate) == key:
            matches.append(candidate)
    if not matches:
        raise LookupError(
            f"{image.name}: no image of the other breast ({wanted} {view}) of the same exam; it needs the same "
            "DICOM StudyInstanceUID, or, without tags, the same file name with the side word changed (e.g. "
            f"P01_{side}_{view}.png and P01_{wanted}_{view}.png)")
    if len(matches) > 1:
        names = ", ".join(sorted(match.name for match in matches))
        raise LookupError(f"{image.name}: {len(matches)} images could be the other breast ({wanted} {view}): {names}")
    return matches[0]
