"""Lung point-of-care ultrasound (POCUS) of the COVID-19 lung ultrasound data set (Born et al., 2021; repository
jannisborn/covid19_ultrasound), in the layouts that repository stores and builds:

- frames and images in class folders, ``image_dataset/{covid,pneumonia,regular}/`` (and ``viral``), as its
  ``build_image_dataset.py`` writes them: a frame is named after its video, ``Cov-Atlas+(44).gif_frame15.jpg``,
  a still image keeps its own name;
- the raw ``pocus_images/{convex,linear}/`` and ``pocus_videos/{convex,linear}/``, where the class is the first
  three letters of the file name (``Cov``, ``Pne``, ``Reg``, ``Vir``), as that repository's scripts read it;
- videos (``.mp4``, ``.avi``, ``.gif``, ``.mpeg``, ``.mov``, ...) in class folders.

Folders are read recursively, and a class folder's name wins over the file-name prefix. Other files (tables,
scripts) are passed over. Give the folder of one of these layouts, not the repository's ``data/``, which also
holds CT and X-ray images in class folders.

The set records no patients: the unit of the split is the video. A frame's video is its name up to
``_frame<N>``, so frames of one video never straddle splits, whether that repository extracted them or they are
taken here from the video (every ``frame_stride``-th frame, into ``frame_cache``; ``custom.ultrasound.readers.video``).
Still images are units of their own; two videos of one patient under different names cannot be told apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from custom.skip_report import SkipReport
from custom.ultrasound.manifest import us_manifest_frame
from custom.ultrasound.readers.common import IMAGE_SUFFIXES, entries, image_size, relative_id
from custom.ultrasound.readers.video import VIDEO_SUFFIXES, extract_frames

CLASSES = ("covid", "pneumonia", "regular", "viral")
_PREFIXES = {"cov": "covid", "pne": "pneumonia", "reg": "regular", "vir": "viral"}
_FRAME = re.compile(r"^(?P<video>.+\.(?:%s))_frame(?P<frame>\d+)$" % "|".join(s[1:] for s in VIDEO_SUFFIXES),
                    re.IGNORECASE)


def read_pocus(root: str | Path, *, report: SkipReport, frame_stride: int = 5,
               frame_cache: str | Path | None = None) -> pd.DataFrame:
    """The POCUS frames and images under ``root``, and every ``frame_stride``-th frame of its videos, extracted
    into ``frame_cache`` (a video is reported as skipped when no cache is given or no decoder is installed).
    Reported and left out: a file of unknown class, an unreadable image, an undecodable video."""
    if int(frame_stride) < 1:
        raise ValueError(f"frame_stride must be a positive number of frames, got {frame_stride}")
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (pocus layout)")
    cache = Path(frame_cache).resolve() if frame_cache is not None else None
    rows = []
    for path in _files(root, cache):
        suffix = path.suffix.lower()
        if suffix not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
            continue
        class_name = _class_of(path, root)
        if class_name is None:
            report.skip(path, f"class unknown: not in a {'/'.join(CLASSES)} folder and the name starts with none "
                              f"of {', '.join(p.title() for p in _PREFIXES)}")
        elif suffix in VIDEO_SUFFIXES:
            rows += _video_rows(path, root, class_name, cache, int(frame_stride), report)
        elif image_size(path, report) is not None:
            match = _FRAME.match(path.stem)
            rows.append({"dataset": "pocus", "image_id": relative_id(path, root), "path": str(path),
                         "class_name": class_name, "video_id": match["video"] if match else "",
                         "frame": int(match["frame"]) if match else None})
    return us_manifest_frame(rows)


def _files(folder: Path, cache: Path | None) -> Iterator[Path]:
    """Every file below ``folder``, in name order, leaving out the frame cache should it lie inside."""
    for entry in entries(folder):
        if entry == cache:
            continue
        if entry.is_dir():
            yield from _files(entry, cache)
        else:
            yield entry


def _class_of(path: Path, root: Path) -> str | None:
    folders = (root.name, *path.relative_to(root).parts[:-1])
    for folder in reversed(folders):
        if folder.lower() in CLASSES:
            return folder.lower()
    return _PREFIXES.get(path.name[:3].lower())


def _video_rows(video: Path, root: Path, class_name: str, cache: Path | None, stride: int,
                report: SkipReport) -> list[dict]:
    if cache is None:
        report.skip(video, "video not read: no frame cache folder to extract its frames into (--frame_cache DIR)")
        return []
    relative = relative_id(video, root)
    return [{"dataset": "pocus", "image_id": f"{relative}_frame{index}", "path": str(frame),
             "class_name": class_name, "video_id": video.name, "frame": index}
            for index, frame in extract_frames(video, relative, cache, stride, report)]
