"""What the ultrasound readers share: finding the layout's folder under the folder the user gave, listing the
files of a folder as the layouts store them, and opening an image's header so that a broken file is reported
and skipped when the manifest is written, not when training reaches it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image

from custom.skip_report import SkipReport

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_IGNORED = {"__MACOSX", "Thumbs.db", "desktop.ini"}


def layout_folder(root: str | Path, matches: Callable[[Path], bool], layout: str) -> Path:
    """The folder holding the layout: ``root`` itself when ``matches`` it, else the one folder directly below it
    that does (users give the unpacked archive or the folder inside). Missing or ambiguous: an error naming
    ``root``."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder ({layout} layout)")
    if matches(root):
        return root
    found = [child for child in entries(root) if child.is_dir() and matches(child)]
    if len(found) > 1:
        raise ValueError(f"{root}: several {layout} data sets below it ({', '.join(f.name for f in found)}); give one")
    if not found:
        raise FileNotFoundError(f"{root}: not a {layout} layout, nor is any folder directly below it")
    return found[0]


def entries(folder: Path) -> list[Path]:
    """The folder's entries in name order, without hidden files and the litter of archivers and file browsers."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.name not in _IGNORED)


def child_folder(parent: Path, name: str) -> Path | None:
    """The folder ``name`` directly in ``parent``, matched without regard to case (``GT``/``gt``), or None."""
    matches = [p for p in entries(parent) if p.is_dir() and p.name.lower() == name.lower()]
    return matches[0] if matches else None


def image_size(path: Path, report: SkipReport, what: str = "image", *, must_vary: bool = True) -> tuple[int, int] | None:
    """(height, width) of an image PIL can open and whose data checks out (PNG chunk checksums); None, reported
    as an unreadable ``what`` with the reason, for anything else. ``must_vary``: an image whose pixels all hold
    one value (an all-black export) shows nothing and is reported too; a mask may be empty."""
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            width, height = image.size
            extrema = image.getextrema() if must_vary else None
    except Exception as error:  # PIL raises many types for a broken file
        report.skip(path, f"unreadable {what}: {type(error).__name__}: {error}")
        return None
    if extrema is not None and is_constant(extrema):
        report.skip(path, f"constant {what}: every pixel is {_first(extrema):g}, there is nothing to read")
        return None
    return height, width


def is_constant(extrema) -> bool:
    """Whether PIL's ``getextrema()`` (one (min, max) pair, or one per band) says every pixel is the same."""
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    return len({value for band in bands for value in band}) == 1


def _first(extrema) -> float:
    return float(extrema[0][0] if isinstance(extrema[0], tuple) else extrema[0])


def relative_id(path: Path, root: Path) -> str:
    """The path relative to the data-set root, with forward slashes: the image id."""
    return path.relative_to(root).as_posix()


def usable_with_masks(image: Path, masks: list[Path], report: SkipReport) -> bool:
    """Whether the image and all its masks open, at one size (the problems reported). An image with one bad
    mask is left out whole: the lesion that mask holds would otherwise be missing from its ground truth."""
    size = image_size(image, report)
    if size is None:
        return False
    for mask in masks:
        mask_size = image_size(mask, report, what=f"mask ({image.name} left out)", must_vary=False)
        if mask_size is None:
            return False
        if mask_size != size:
            report.skip(mask, f"mask size differs: {mask_size[0]}x{mask_size[1]} against the image's "
                              f"{size[0]}x{size[1]}; {image.name} left out")
            return False
    return True
