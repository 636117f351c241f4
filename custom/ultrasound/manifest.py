"""The ultrasound manifest: one row per 2-D image (a still, a video frame, a cardiac phase), the table the
ultrasound bundle reads.

It is not the mammography manifest: ultrasound rows carry masks instead of boxes, and most ultrasound sets do
not know the patient, so each row says which unit its split was drawn by. Columns (``US_MANIFEST_COLUMNS``):

- ``dataset``: the layout (busi, udiat, pocus, camus, imagefolder); ``image_id``: the image's path relative to
  the data-set root (frames of a video: ``<video path>_frame<N>``), unique within the data set;
- ``path``: the absolute image path (for a video frame, the PNG in the frame cache);
- ``mask_paths``: the absolute mask paths joined by ``;`` (BUSI lists one per lesion; ``load_merged_mask``
  merges them), empty when there is none;
- ``class_name``, ``patient_id``: empty where the layout does not know them; ``video_id``, ``frame``: the video
  a frame comes from and the frame's index, empty for still images;
- ``group_id``, ``split_by``: the unit of the split, the patient where known, else the video, else the image
  itself (``patient``, ``video``, ``image``): the unit a bootstrap over images must resample too;
- ``split`` (train, val, test) and ``split_seed``: the seed it was drawn with, empty where the data set shipped
  the split. Once written, splits are read back as they are, never drawn again.
"""

from __future__ import annotations

import inspect
import logging
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from custom.atomic_write import replaced_when_done
from custom.skip_report import SkipReport
from custom.ultrasound.readers.registry import ultrasound_reader_for

logger = logging.getLogger(__name__)

US_MANIFEST_COLUMNS = [
    "dataset", "image_id", "path", "mask_paths", "class_name", "patient_id", "video_id", "frame",
    "group_id", "split_by", "split", "split_seed",
]
SPLITS = ("train", "val", "test")
MASK_SEPARATOR = ";"
_INTEGER_COLUMNS = ("frame", "split_seed")


# ---- the table ----

def us_manifest_frame(rows: Iterable[Mapping]) -> pd.DataFrame:
    """An ultrasound manifest from row dicts; missing columns are empty, ``mask_paths`` may be a list."""
    return _normalise(pd.DataFrame(list(rows), columns=US_MANIFEST_COLUMNS))


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    out = df.loc[:, US_MANIFEST_COLUMNS].copy().reset_index(drop=True)
    out["mask_paths"] = [_joined_masks(value) for value in out["mask_paths"]]
    for column in US_MANIFEST_COLUMNS:
        if column in _INTEGER_COLUMNS:
            out[column] = pd.array([None if _blank(v) else int(v) for v in out[column]], dtype="Int64")
        elif column != "mask_paths":
            out[column] = pd.Series(["" if _blank(v) else str(v) for v in out[column]], dtype=object)
    return out


def _blank(value) -> bool:
    return value is None or (not isinstance(value, (str, list, tuple)) and pd.isna(value)) or value == ""


def _joined_masks(value) -> str:
    """A list of mask paths as one ``;``-joined cell; a path holding ``;`` would split wrongly when read back."""
    if isinstance(value, str) or _blank(value):
        return "" if _blank(value) else value
    paths = [str(path) for path in value]
    for path in paths:
        if MASK_SEPARATOR in path:
            raise ValueError(f"{path}: a mask path must not contain {MASK_SEPARATOR!r}, the manifest's list separator")
    return MASK_SEPARATOR.join(paths)


def mask_list(value) -> list[str]:
    """The mask paths of a ``mask_paths`` cell (or of a row), in order; ``[]`` when the image has none."""
    if isinstance(value, (Mapping, pd.Series)):
        value = value["mask_paths"]
    if isinstance(value, (list, tuple)):
        return [str(path) for path in value]
    return [] if _blank(value) else [path for path in str(value).split(MASK_SEPARATOR) if path]


def read_us_manifest(path: str | Path) -> pd.DataFrame:
    """Reads an ultrasound manifest CSV written by ``write_us_manifest``, splits as written."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest file not found")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in US_MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not an ultrasound manifest: missing columns {missing}")
    return _normalise(df)


def write_us_manifest(df: pd.DataFrame, path: str | Path) -> None:
    """Writes the manifest as CSV in column order; empty cells are written empty. Written whole or not at all:
    an earlier manifest at ``path`` stays intact when the disk is full (``FileWriteError`` naming it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = _normalise(df)
    with replaced_when_done(path) as tmp:
        table.to_csv(tmp, index=False)


# ---- splits ----

def assign_group_splits(df: pd.DataFrame, *, seed: int, val_fraction: float, test_fraction: float) -> pd.DataFrame:
    """Sets ``group_id``, ``split_by``, ``split`` and ``split_seed`` so that no group is in two splits.

    A group is a patient where the row knows one, else a video, else the image alone. Splits the data set
    shipped (a non-empty ``split`` from the reader) are kept; the other groups are drawn per class, so that
    every split sees every class, with fractions of that class's groups (groups of several classes are drawn
    with those of none). Each class draws from its own
    generator seeded by ``seed`` and the class name, over the sorted group ids: the draw depends on nothing
    else, not on the order of the files on disk. A fraction above zero draws at least one group of a class
    that has enough of them (``_split_sizes``).
    """
    if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction < 1):
        raise ValueError("need val_fraction, test_fraction >= 0 with a sum below 1, "
                         f"got {val_fraction}, {test_fraction}")
    out = df.copy()
    units = [_unit(row) for row in out.itertuples()]
    out["split_by"] = [kind for kind, _ in units]
    out["group_id"] = [group for _, group in units]
    shipped, strata = {}, {}
    for unit, rows in out.groupby(["split_by", "group_id"], sort=True):
        splits = set(rows["split"]) - {""}
        if len(splits) > 1 or not splits <= set(SPLITS):
            raise ValueError(f"{unit[0]} {unit[1]!r} is shipped in split(s) {sorted(splits)}; "
                             f"expected one of {SPLITS}")
        if splits:
            shipped[unit] = splits.pop()
        else:
            classes = set(rows["class_name"])
            strata.setdefault(classes.pop() if len(classes) == 1 else "", []).append(unit)
    drawn = {}
    for stratum, groups in sorted(strata.items()):
        rng = np.random.default_rng([seed, zlib.crc32(stratum.encode())])
        order = [groups[i] for i in rng.permutation(len(groups))]
        n_test, n_val = _split_sizes(len(order), test_fraction, val_fraction)
        drawn.update(dict.fromkeys(order[:n_test], "test"))
        drawn.update(dict.fromkeys(order[n_test:n_test + n_val], "val"))
        drawn.update(dict.fromkeys(order[n_test + n_val:], "train"))
    keys = list(zip(out["split_by"], out["group_id"], strict=True))
    out["split"] = [shipped.get(key) or drawn[key] for key in keys]
    out["split_seed"] = [None if key in shipped else seed for key in keys]
    return _normalise(out)


def _split_sizes(groups: int, test_fraction: float, val_fraction: float) -> tuple[int, int]:
    """Test and validation groups of a stratum of ``groups``: each fraction of them, rounded, but at least one
    for a fraction above zero while the training split keeps one (a small class would otherwise round to an
    empty validation split, and training stop for want of one)."""
    n_test, n_val = round(test_fraction * groups), round(val_fraction * groups)
    if test_fraction > 0 and n_test == 0 and groups - n_val >= 2:
        n_test = 1
    if val_fraction > 0 and n_val == 0 and groups - n_test >= 2:
        n_val = 1
    return n_test, n_val


def _unit(row) -> tuple[str, str]:
    if row.patient_id:
        return "patient", row.patient_id
    if row.video_id:
        return "video", row.video_id
    return "image", row.image_id


# ---- building ----

def build_us_manifest(fmt: str, root: str | Path, *, seed: int = 0, val_fraction: float = 0.1,
                      test_fraction: float = 0.2, report: SkipReport | None = None, **options) -> pd.DataFrame:
    """Reads an ultrasound data set in layout ``fmt`` (a name in
    ``custom.ultrasound.readers.registry.ULTRASOUND_READERS``) and assigns its splits. ``options`` go to the
    reader (``frame_stride``, ``frame_cache`` for pocus); one the reader does not take is a ``ValueError``."""
    read = ultrasound_reader_for(fmt)
    unknown = sorted(set(options) - set(inspect.signature(read).parameters))
    if unknown:
        raise ValueError(f"option(s) {unknown} do not apply to the {fmt} layout")
    report = report if report is not None else SkipReport()
    df = read(root, report=report, **options)
    if df.empty:
        raise FileNotFoundError(f"{root}: no images found ({fmt} layout; {len(report)} input(s) skipped)")
    df = assign_group_splits(df, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)
    return _normalise(df.sort_values(["group_id", "image_id"], kind="stable"))


def check_us_images(df: pd.DataFrame, report: SkipReport) -> pd.DataFrame:
    """The rows whose image and masks decode, the others reported and left out: the readers only open the
    headers, this decodes every pixel once (``manifest --check``)."""
    from custom.ultrasound.readers.loading import load_grey, load_merged_mask

    keep = []
    for row in df.itertuples():
        try:
            shape = load_grey(row.path).shape
            load_merged_mask(mask_list(row.mask_paths), shape)
        except (OSError, ValueError) as error:
            report.skip(row.path, f"undecodable image or mask: {error}")
            keep.append(False)
        else:
            keep.append(True)
    return df[keep].reset_index(drop=True)


def summarise_us(df: pd.DataFrame) -> str:
    """Images, groups and classes per split: the look at a new manifest."""
    units = sorted(set(df["split_by"]))
    lines = [f"{len(df)} images in {df['group_id'].nunique()} groups (split by {', '.join(units)})"]
    for split in SPLITS:
        part = df[df["split"] == split]
        counts = part["class_name"].value_counts().sort_index()
        classes = ", ".join(f"{name or 'no class'}: {count}" for name, count in counts.items())
        lines.append(f"  {split:5s}: {len(part)} images, {part['group_id'].nunique()} groups"
                     + (f" ({classes})" if classes else ""))
    lines.append(f"{int((df['mask_paths'] != '').sum())} images with masks")
    return "\n".join(lines)


def run_manifest(fmt: str, root: str | Path, out: str | Path, *, seed: int = 0, val_fraction: float = 0.1,
                 test_fraction: float = 0.2, check: bool = False, **options) -> pd.DataFrame:
    """``python -m custom manifest`` for an ultrasound layout: reads, optionally decodes every image, writes the
    CSV and prints what it holds and what was skipped. The output place is checked before the reading."""
    out = Path(out)
    if out.is_dir():
        raise IsADirectoryError(f"{out}: is a folder; give a file name for the manifest, e.g. {out / 'manifest.csv'}")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = SkipReport()
    table = build_us_manifest(fmt, root, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
                              report=report, **options)
    if check:
        table = check_us_images(table, report)
    write_us_manifest(table, out)
    print(summarise_us(table))
    print(report.summary())
    print(f"manifest written to {out}")
    return table
