"""CAMUS, Cardiac Acquisitions for Multi-structure Ultrasound Segmentation (Leclerc et al., IEEE TMI 38, 2019),
read as distributed: ``patientNNNN/patientNNNN_{2CH,4CH}_{ED,ES}.nii.gz`` with the label maps
``patientNNNN_{2CH,4CH}_{ED,ES}_gt.nii.gz`` (``CAMUS_LABELS``: 1 LV endocardium, 2 myocardium, 3 left atrium),
the patient folders directly in the folder given or one level down (``CAMUS_public/database_nifti/``, or the
first release's ``training/`` and ``testing/``, whose ``.mhd``/``.raw`` pairs are read when SimpleITK is
installed and reported otherwise). Only the end-diastole and end-systole frames are listed: the sequence files
(``_half_sequence``, ``_sequence``) and ``Info_*.cfg`` are passed over. A frame without its label map (the first
release's test set) is listed without a mask.

The patient is the folder (its path below the folder given, since the first release numbers its training and
test patients from 1 each); there is no class. The official split of the current release
(``database_split/subgroup_{training,validation,testing}.txt``, looked for in the folder given and beside it)
is kept when present; patients it does not list are drawn by patient with the seed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from custom.skip_report import SkipReport
from custom.ultrasound.manifest import us_manifest_frame
from custom.ultrasound.readers.common import entries, relative_id
from custom.ultrasound.readers.loading import load_grey, load_label_map

CAMUS_LABELS = {1: "lv_endocardium", 2: "myocardium", 3: "left_atrium"}
_PATIENT = re.compile(r"^patient\d{4}$")
_FILE = re.compile(r"^(?P<patient>patient\d{4})_(?P<view>2CH|4CH)_(?P<phase>ED|ES)(?P<gt>_gt)?\.(?:nii\.gz|nii|mhd)$",
                   re.IGNORECASE)
_SHIPPED = {"subgroup_training.txt": "train", "subgroup_validation.txt": "val", "subgroup_testing.txt": "test"}


def read_camus(root: str | Path, *, report: SkipReport) -> pd.DataFrame:
    """The ED and ES frames of every patient folder under ``root``, each with its label map when there is one.
    Reported and left out: a label map without its frame, a file named after another patient, an unreadable or
    constant frame, one whose label map differs in size or holds a value outside ``CAMUS_LABELS`` and 0, and
    ``.mhd`` files when SimpleITK is missing."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (camus layout)")
    patients = _patient_folders(root)
    if not patients:
        raise FileNotFoundError(f"{root}: no patientNNNN folder in it or one level down (camus layout)")
    shipped = _shipped_splits(root)
    rows = []
    for folder in patients:
        patient_id = relative_id(folder, root)
        for frame, label_map in _frames(folder, report):
            if _usable(frame, label_map, report):
                rows.append({"dataset": "camus", "image_id": relative_id(frame, root), "path": str(frame),
                             "mask_paths": [str(label_map)] if label_map else [], "patient_id": patient_id,
                             "split": shipped.get(folder.name, "")})
    return us_manifest_frame(rows)


def _patient_folders(root: Path) -> list[Path]:
    found = []
    for entry in [root, *(e for e in entries(root) if e.is_dir())]:
        found += [p for p in entries(entry) if p.is_dir() and _PATIENT.match(p.name)]
    return found


def _shipped_splits(root: Path) -> dict[str, str]:
    """Patient folder name -> split, from the release's ``database_split`` files; {} when there are none."""
    for folder in (root / "database_split", root.parent / "database_split"):
        if folder.is_dir():
            return {line.strip(): split for name, split in _SHIPPED.items() if (folder / name).is_file()
                    for line in (folder / name).read_text().splitlines() if line.strip()}
    return {}


def _frames(folder: Path, report: SkipReport) -> list[tuple[Path, Path | None]]:
    """(frame, label map or None) of the patient folder's ED/ES files."""
    frames, label_maps = {}, {}
    for path in entries(folder):
        match = _FILE.match(path.name)
        if match is None:
            continue
        if match["patient"].lower() != folder.name.lower():
            report.skip(path, f"file of another patient: {match['patient']} in the folder {folder.name}")
            continue
        key = (match["view"].upper(), match["phase"].upper())
        (label_maps if match["gt"] else frames)[key] = path
    for key in sorted(set(label_maps) - set(frames)):
        report.skip(label_maps[key], f"label map without image: no {folder.name}_{key[0]}_{key[1]} image beside it")
    return [(frames[key], label_maps.get(key)) for key in sorted(frames)]


def _usable(frame: Path, label_map: Path | None, report: SkipReport) -> bool:
    shape = _shape(frame, report)
    if shape is None or not _varies(frame, report):
        return False
    if label_map is None:
        return True
    mask_shape = _shape(label_map, report)
    if mask_shape is not None and mask_shape != shape:
        report.skip(label_map, f"label map size differs: {mask_shape} against the image's {shape}; "
                               f"{frame.name} left out")
    return mask_shape == shape and _labels_known(label_map, frame, report)


def _varies(frame: Path, report: SkipReport) -> bool:
    """Whether the frame shows something: one whose pixels all hold one value is reported."""
    try:
        pixels = load_grey(frame)
    except (OSError, ValueError) as error:
        report.skip(frame, f"unreadable image: {error}")
        return False
    if pixels.min() == pixels.max():
        report.skip(frame, f"constant image: every pixel is {float(pixels.min()):g}, there is nothing to read")
        return False
    return True


def _labels_known(label_map: Path, frame: Path, report: SkipReport) -> bool:
    """Whether the label map holds CAMUS's labels only (0 and ``CAMUS_LABELS``): any other value is a map of
    another data set, or a damaged one, whose structures would be trained as the wrong ones."""
    try:
        values = {int(value) for value in np.unique(load_label_map(label_map))}
    except (OSError, ValueError) as error:
        report.skip(label_map, f"unreadable label map: {error}; {frame.name} left out")
        return False
    unknown = sorted(values - {0, *CAMUS_LABELS})
    if unknown:
        report.skip(label_map, f"label values {unknown} outside CAMUS's 0-{max(CAMUS_LABELS)} "
                               f"({', '.join(f'{k} {v}' for k, v in CAMUS_LABELS.items())}); {frame.name} left out")
        return False
    return True


def _shape(path: Path, report: SkipReport) -> tuple[int, ...] | None:
    """The 2-D size of a NIfTI or MetaImage file from its header; None, reported, when it cannot be read."""
    try:
        if path.name.lower().endswith(".mhd"):
            return _mhd_shape(path)
        import nibabel

        shape = tuple(n for n in nibabel.load(path).shape if n != 1)
    except ImportError as error:
        report.skip(path, f"not read: {error.name} is not installed (pip install {error.name})")
        return None
    except Exception as error:  # nibabel and SimpleITK raise their own types for a broken file
        report.skip(path, f"unreadable image: {type(error).__name__}: {error}")
        return None
    if len(shape) != 2:
        report.skip(path, f"not one 2-D frame: shape {shape}")
        return None
    return shape[::-1]


def _mhd_shape(path: Path) -> tuple[int, ...]:
    """Reads the MetaImage header (SimpleITK) and checks that its data file is there: the header alone reads
    fine without it. Sizes in the header's (x, y) order, as nibabel gives NIfTI's."""
    import SimpleITK as sitk  # noqa: N813 - the name SimpleITK's own documentation uses

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    data_file = next((line.split("=", 1)[1].strip() for line in path.read_text(errors="replace").splitlines()
                      if line.split("=", 1)[0].strip() == "ElementDataFile"), "")
    if data_file and data_file != "LOCAL" and not (path.parent / data_file).is_file():
        raise FileNotFoundError(f"its data file {data_file} is missing")
    return tuple(n for n in reader.GetSize() if n != 1)
