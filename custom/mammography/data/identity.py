"""Which breast and which view an image shows, from every place archives write it, contradictions caught.

Sources, in order of trust (``docs/data_formats.md``, "Laterality and view"):

1. what the caller gives (a manifest or CSV column, ``heatmap --images L_CC=...``);
2. the DICOM tags of the standard: ``ImageLaterality``, ``Laterality``, ``FrameLaterality``, ``ViewPosition``,
   ``ViewCodeSequence``;
3. ``PatientOrientation``: the standard's two direction codes, or a bare view word as CBIS-DDSM writes it;
4. a CBIS-DDSM ``PatientID`` such as ``Mass-Training_P_00001_LEFT_CC``;
5. ``SeriesDescription`` words;
6. archive naming conventions in the path: a CBIS-DDSM folder up to three levels above the file, an INbreast
   file name ``<id>_<hash>_MG_<L|R>_<CC|ML>_ANON.dcm`` (``ML`` is INbreast's MLO).

Any two of these that disagree make the image unusable (``MammogramReadError`` naming both). Only when none of
them says anything are laterality/view words in the file or folder names used (``L``, ``RIGHT``, ``CC``,
``LMLO``...); those are a last resort and never overrule a tag, since any folder name may hold such a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from custom.mammography.data.errors import MammogramReadError

LATERALITY_WORDS = {"L": "L", "LEFT": "L", "R": "R", "RIGHT": "R"}
# "ML" is INbreast's name for the medio-lateral oblique view.
VIEW_WORDS = {"CC": "CC", "MLO": "MLO", "ML": "MLO"}
# SNOMED-RT and SNOMED CT codes of the two screening views (DICOM CID 4014).
VIEW_CODES = {"R-10242": "CC", "399162004": "CC", "R-10226": "MLO", "399368009": "MLO"}
VIEW_MEANINGS = {"craniocaudal": "CC", "mediolateraloblique": "MLO"}
# How many folders above the file are searched: CBIS-DDSM keeps "..._LEFT_CC" three levels up.
NAME_SEARCH_PARENTS = 3
CBIS_NAME = re.compile(r"^(?:Mass|Calc)-(?:Training|Test)_P_\d+_(LEFT|RIGHT)_(CC|MLO)(?:_\d+)?$", re.IGNORECASE)
INBREAST_NAME = re.compile(r"^\d+_[0-9a-f]+_MG_([LR])_(CC|ML|MLO)_ANON$", re.IGNORECASE)
CBIS_PATIENT = re.compile(r"_(P_\d+)_(?:LEFT|RIGHT)_", re.IGNORECASE)
GIVEN = "given (manifest, CSV column or --images)"
SEARCHED_TAGS = {
    "laterality": "ImageLaterality/Laterality/FrameLaterality/PatientOrientation/PatientID/SeriesDescription",
    "view": "ViewPosition/ViewCodeSequence/PatientOrientation/PatientID/SeriesDescription",
}


@dataclass(frozen=True)
class Hint:
    """What one source says: a laterality, a view, or both (None where it says nothing)."""

    source: str
    laterality: str | None = None
    view: str | None = None


def resolve(path: str | Path, hints: list[Hint] | None, *, laterality: str | None = None,
            view: str | None = None) -> tuple[str, str]:
    """(laterality, view) agreed on by ``hints`` and the given values; contradictions and absence are errors.

    ``hints`` are the file's own sources in order of trust: ``dicom_hints(ds)`` for DICOM, None for formats
    without tags (PNG, NIfTI). The path conventions are added here.
    """
    path = Path(path)
    trusted = [Hint(GIVEN, laterality, view), *(hints or []), *convention_hints(path)]
    found = []
    for field in ("laterality", "view"):
        said = [(hint.source, getattr(hint, field)) for hint in trusted if getattr(hint, field)]
        if len({value for _, value in said}) > 1:
            sources = ", ".join(f"{value} from {source}" for source, value in said)
            raise MammogramReadError(path, f"contradictory {field}: {sources}")
        value = said[0][1] if said else name_word(path, field)
        if value is None:
            where = (f"tags {SEARCHED_TAGS[field]} or file name" if hints is not None
                     else f"file name (this format has no tags); pass {field}=")
            raise MammogramReadError(path, f"{field} not found in {where}")
        found.append(value)
    return found[0], found[1]


def dicom_hints(ds: Dataset) -> list[Hint]:
    """The tag sources 2-5 of the module docstring, in order of trust."""
    hints = [Hint(keyword, laterality=_side(ds.get(keyword))) for keyword in ("ImageLaterality", "Laterality")]
    anatomy = shared_group_item(ds, "FrameAnatomySequence")
    if anatomy is not None:
        hints.append(Hint("FrameLaterality", laterality=_side(anatomy.get("FrameLaterality"))))
    position = str(ds.get("ViewPosition", "")).strip().upper()
    hints.append(Hint("ViewPosition", view=position if position in ("CC", "MLO") else None))
    hints.append(Hint("ViewCodeSequence", view=_view_code(ds)))
    hints.append(Hint("PatientOrientation", *_orientation_hints(ds)))
    cbis = CBIS_NAME.match(str(ds.get("PatientID", "")).strip())
    if cbis:
        hints.append(Hint("PatientID", LATERALITY_WORDS[cbis.group(1).upper()], cbis.group(2).upper()))
    hints.append(Hint("SeriesDescription", *parse_name(str(ds.get("SeriesDescription", "")))))
    return [hint for hint in hints if hint.laterality or hint.view]


def convention_hints(path: Path) -> list[Hint]:
    """Source 6: a CBIS-DDSM folder name above the file, an INbreast file name."""
    hints = []
    inbreast = INBREAST_NAME.match(_stem(path.name))
    if inbreast:
        hints.append(Hint("INbreast file name", inbreast.group(1).upper(), VIEW_WORDS[inbreast.group(2).upper()]))
    for parent in path.parents[:NAME_SEARCH_PARENTS]:
        cbis = CBIS_NAME.match(parent.name)
        if cbis:
            hints.append(Hint(f"CBIS-DDSM folder {parent.name}", LATERALITY_WORDS[cbis.group(1).upper()],
                              cbis.group(2).upper()))
            break
    return hints


def name_word(path: str | Path, field: str) -> str | None:
    """The last resort: laterality or view word of the file name, else of the nearest parent folder naming one."""
    index = 0 if field == "laterality" else 1
    path = Path(path)
    for part in [path.name, *(parent.name for parent in path.parents[:NAME_SEARCH_PARENTS])]:
        found = parse_name(part)[index]
        if found:
            return found
    return None


def parse_name(text: str) -> tuple[str | None, str | None]:
    """(laterality, view) named by the tokens of ``text``; each None when absent or contradictory.

    Tokens are runs of letters/digits: "L", "LEFT", "CC", "MLO", "ML" and joined forms such as "RMLO".
    """
    lateralities: set[str] = set()
    views: set[str] = set()
    for token in re.split(r"[^A-Z0-9]+", text.upper()):
        if token in LATERALITY_WORDS:
            lateralities.add(LATERALITY_WORDS[token])
        elif token in VIEW_WORDS:
            views.add(VIEW_WORDS[token])
        elif token[:1] in ("L", "R") and token[1:] in VIEW_WORDS:
            lateralities.add(token[0])
            views.add(VIEW_WORDS[token[1:]])
    return (
        lateralities.pop() if len(lateralities) == 1 else None,
        views.pop() if len(views) == 1 else None,
    )


def is_cbis_ddsm(path: str | Path, ds: Dataset | None = None) -> bool:
    """Whether an image comes from CBIS-DDSM: its ``PatientID`` (DICOM) or a folder up to three levels above it
    is named the CBIS-DDSM way (``Mass-Training_P_00001_LEFT_CC``). Its pixel spacing follows from that
    (:mod:`custom.mammography.data.spacing`), as its files state none."""
    if ds is not None and CBIS_NAME.match(str(ds.get("PatientID", "")).strip()):
        return True
    return any(CBIS_NAME.match(parent.name) for parent in Path(path).parents[:NAME_SEARCH_PARENTS])


def patient_of(ds: Dataset) -> str | None:
    """The patient an image belongs to: ``P_00001`` for a CBIS-DDSM PatientID (which names side and view
    too, so differs between one patient's images), else the PatientID; None when empty."""
    patient = str(ds.get("PatientID", "")).strip()
    cbis = CBIS_PATIENT.search(patient) if CBIS_NAME.match(patient) else None
    return cbis.group(1).upper() if cbis else (patient or None)


def _side(value) -> str | None:
    text = str(value or "").strip().upper()
    return text if text in ("L", "R") else None


def _view_code(ds: Dataset) -> str | None:
    for item in ds.get("ViewCodeSequence", []):
        code = str(item.get("CodeValue", "")).strip()
        meaning = re.sub(r"[^a-z]", "", str(item.get("CodeMeaning", "")).lower())
        found = VIEW_CODES.get(code) or VIEW_MEANINGS.get(meaning)
        if found:
            return found
    return None


def _orientation_hints(ds: Dataset) -> tuple[str | None, str | None]:
    """(laterality, view) implied by PatientOrientation.

    The standard: rows run towards anterior or posterior (A/P); the column direction names the patient side
    the image bottom points to: towards the patient's right on a left breast, so "R" -> "L". A foot/head
    component (e.g. "A\\FR") means an oblique view, none (e.g. "A\\R") a cranio-caudal one. CBIS-DDSM writes
    a bare view word ("CC", "MLO") instead: it gives the view only.
    """
    value = ds.get("PatientOrientation")
    orientation = [str(v).strip().upper() for v in ([value] if isinstance(value, str) else value or [])]
    if len(orientation) == 1 and orientation[0] in ("CC", "MLO"):
        return None, orientation[0]
    if len(orientation) != 2 or orientation[0] not in ("A", "P") or not orientation[1]:
        return None, None
    column = orientation[1]
    sides = set(column) & {"L", "R"}
    if len(sides) != 1 or not set(column) <= {"L", "R", "F", "H"}:
        return None, None
    laterality = "L" if sides == {"R"} else "R"
    return laterality, "MLO" if set(column) & {"F", "H"} else "CC"


def shared_group_item(ds: Dataset, sequence: str) -> Dataset | None:
    """First item of ``sequence`` inside SharedFunctionalGroupsSequence (enhanced MG objects), if any."""
    groups = ds.get("SharedFunctionalGroupsSequence")
    if not groups:
        return None
    items = groups[0].get(sequence)
    return items[0] if items else None


def _stem(name: str) -> str:
    return name[: -len(".dcm")] if name.lower().endswith(".dcm") else name
