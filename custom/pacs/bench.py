"""``bench pacs``: a full-size screening exam from the PACS and back, results included, against the time needed
just to decode its four images.

The exam is the synthetic generator's at detector size (4,000 x 3,300 px at 0.07 mm, ``bench data --full_size``'s
preset), every image RLE-compressed (pydicom's RLE encoder), on a temporary Orthanc. The detector is loaded once,
as ``pacs-detect --watch`` holds it; each round trip is one ``PacsDetector`` call: check the study, retrieve the
four images, read, align and detect, build the SR and the overlays, store them (each round adds a run). The
reference is ``pydicom.dcmread(path).pixel_array`` on the same four files. The two alternate, so load from other
processes hits both alike; medians are printed. Random encoder weights: the speed does not depend on them.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import pydicom
import torch
from pydicom.uid import RLELossless

from custom.bundle_location import DEFAULT_BUNDLE
from custom.mammography.bench.full_size import full_size_preset
from custom.pacs.cli import quiet_libraries
from custom.pacs.connection import Pacs
from custom.pacs.detect import PacsDetector
from custom.pacs.orthanc import TemporaryOrthanc
from custom.pacs.untrained import untrained_bundle
from custom.pacs.upload import synthetic_studies, upload_files


def rle_copies(files: list[Path], folder: Path) -> list[Path]:
    """The images RLE-compressed (lossless) into ``folder``, as a PACS holding compressed mammograms stores them."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in files:
        dataset = pydicom.dcmread(path)
        if dataset.file_meta.TransferSyntaxUID != RLELossless:
            pixels = dataset.pixel_array
            if dataset.file_meta.TransferSyntaxUID.is_compressed:
                dataset.decompress()
            dataset.compress(RLELossless, pixels, generate_instance_uid=False)
        written.append(folder / path.name)
        dataset.save_as(written[-1], enforce_file_format=True)
    return written


def decode_seconds(files: list[Path]) -> float:
    start = time.perf_counter()
    for path in files:
        pydicom.dcmread(path).pixel_array  # noqa: B018 - decoding is what is timed
    return time.perf_counter() - start


def bench_pacs(repeats: int = 5, seed: int = 0, patch: str = "96", bundle: str | None = None,
               threads: int | None = None, preset: str | None = None) -> dict:
    """Prints the seconds to decode a full-size 4-view RLE exam, the seconds of its round trip through the PACS
    (median of ``repeats``, after one warm-up), their ratio and the round trip's steps.

    ``bundle``: default an untrained copy of the repository's (speed does not depend on the weights).
    ``threads``: torch threads (default: torch's own choice). ``preset``: the generator's preset instead of the
    full-size one (``test`` for a quick check of the bench itself)."""
    quiet_libraries()
    if threads is not None:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="bench-pacs-") as scratch:
        scratch = Path(scratch)
        start = time.perf_counter()
        if preset is None:
            with full_size_preset() as full_size:
                studies = synthetic_studies(scratch / "data", studies=1, seed=seed, preset=full_size)
        else:
            studies = synthetic_studies(scratch / "data", studies=1, seed=seed, preset=preset)
        (study, files), = studies.items()
        files = rle_copies(files, scratch / "rle")
        shape = pydicom.dcmread(files[0], stop_before_pixels=True)
        megabytes = sum(path.stat().st_size for path in files) / 2**20
        print(f"one 4-view exam of {shape.Rows} x {shape.Columns} px, RLE lossless, {megabytes:.0f} MB of DICOM "
              f"(written in {time.perf_counter() - start:.0f} s, not timed)")
        bundle_folder = Path(bundle) if bundle else untrained_bundle(scratch / "bundle", DEFAULT_BUNDLE, seed=seed)
        with TemporaryOrthanc() as orthanc:
            pacs = Pacs(orthanc.dicomweb)
            upload_files(pacs, files)
            detector = PacsDetector(pacs, bundle_folder, patch=patch)
            detector(study)  # warm-up: first-call allocations, kernel selection
            decode_seconds(files)
            decodes, trips, steps = [], [], []
            for _ in range(repeats):
                decodes.append(decode_seconds(files))
                start = time.perf_counter()
                result = detector(study)
                trips.append(time.perf_counter() - start)
                steps.append(result.seconds)
    candidates = sum(len(found) for found in result.candidates.values())
    decode, trip = statistics.median(decodes), statistics.median(trips)
    step_medians = {name: statistics.median(step[name] for step in steps) for name in steps[0]}
    figures = {"decode_seconds": decode, "round_trip_seconds": trip, "ratio": trip / decode, "steps": step_medians,
               "repeats": repeats, "torch_threads": torch.get_num_threads(), "candidates": candidates}
    print(f"decoding the four images (pydicom, one process):  {decode:6.2f} s")
    print(f"PACS -> detection -> SR and overlays -> PACS:     {trip:6.2f} s   ratio {trip / decode:.2f} (aim <= 2)")
    print("  steps: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in step_medians.items())
          + f" ({candidates} candidates in the SR)")
    print(f"medians of {repeats} alternating rounds after a warm-up; torch threads {torch.get_num_threads()}")
    return figures
