"""Frames of ultrasound videos, every ``stride``-th one written as PNG into a cache folder the user names, so that
a video becomes still images a manifest can list.

Decoded by imageio: GIFs with Pillow, always installed; other formats with the first installed of PyAV,
imageio-ffmpeg and OpenCV. None of these is a dependency (each brings a large native library, and most POCUS
sets come as frames already); without one such videos are reported as skipped, naming the packages.

The frames of ``<root>/<path>`` are ``<cache>/<path>_frame<N>.png`` (N the frame's index in the video: the
naming of the POCUS repository's own extraction, which keeps the video's name in every frame's), recorded with
the stride, the video's size and modification time in ``<cache>/<path>.frames.json``; a later run that finds
the same record reuses the frames instead of decoding again.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from PIL import Image

from custom.atomic_write import atomic_write_json, replaced_when_done
from custom.skip_report import SkipReport

VIDEO_SUFFIXES = (".mp4", ".avi", ".gif", ".mpeg", ".mpg", ".mov", ".m4v")
_PLUGINS = (("av", "pyav"), ("imageio_ffmpeg", "FFMPEG"), ("cv2", "opencv"))  # (module, imageio plugin)


def video_plugin(video: Path) -> str | None:
    """The imageio plugin that decodes ``video`` here, or None when no installed package can."""
    if video.suffix.lower() == ".gif":
        return "pillow"
    for module, plugin in _PLUGINS:
        if importlib.util.find_spec(module) is not None:
            return plugin
    return None


def extract_frames(video: Path, relative: str, cache: Path, stride: int, report: SkipReport) -> list[tuple[int, Path]]:
    """(index, PNG path) of every ``stride``-th frame of ``video`` (its path below the data-set root:
    ``relative``), extracted into ``cache`` or found there from an earlier run; [] with the reason reported
    for a video that cannot be decoded here."""
    plugin = video_plugin(video)
    if plugin is None:
        report.skip(video, f"video not read: no decoder for {video.suffix} installed "
                           "(pip install av, or imageio-ffmpeg, or opencv-python)")
        return []
    record = cache / f"{relative}.frames.json"
    status = video.stat()
    source = {"stride": stride, "size": status.st_size, "mtime_ns": status.st_mtime_ns}
    frames = _recorded(record, source)
    if frames is not None:
        return frames
    try:
        frames = _write_frames(video, plugin, cache / relative, stride)
    except Exception as error:  # each decoder raises its own types for a broken video
        report.skip(video, f"undecodable video{_truncated(video)}: {type(error).__name__}: {error}")
        return []
    if not frames:
        report.skip(video, "undecodable video: no frame in it")
        return []
    atomic_write_json(record, {**source, "frames": [[index, path.name] for index, path in frames]})
    return frames


def _truncated(video: Path) -> str:
    """`` (truncated: ...)`` for a GIF cut short (a complete one ends with its trailer byte, 0x3B), else ``""``:
    the decoders only say that they cannot handle the file."""
    if video.suffix.lower() != ".gif":
        return ""
    with open(video, "rb") as handle:
        handle.seek(max(0, video.stat().st_size - 1))
        last = handle.read(1)
    return "" if last == b"\x3b" else " (truncated: the GIF ends before its trailer byte)"


def _recorded(record: Path, source: dict) -> list[tuple[int, Path]] | None:
    """The frames an earlier run extracted with the same stride from the same file, if all are still there."""
    try:
        saved = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    if any(saved.get(key) != value for key, value in source.items()):
        return None
    frames = [(int(index), record.parent / name) for index, name in saved.get("frames", [])]
    return frames if frames and all(path.is_file() for _, path in frames) else None


def _write_frames(video: Path, plugin: str, target: Path, stride: int) -> list[tuple[int, Path]]:
    import imageio.v3 as iio

    target.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    for index, frame in enumerate(iio.imiter(video, plugin=plugin)):
        if index % stride == 0:
            path = target.with_name(f"{target.name}_frame{index}.png")
            with replaced_when_done(path) as tmp:
                Image.fromarray(frame).save(tmp, format="PNG")
            frames.append((index, path))
    return frames
