"""``python -m custom pacs-detect``: the printing around :class:`custom.pacs.detect.PacsDetector` and
:func:`custom.pacs.watch.watch`."""

from __future__ import annotations

import logging

from custom.pacs.connection import Pacs
from custom.pacs.detect import PacsDetector, RunResult
from custom.pacs.runs import description


def pacs_detect(dicomweb: str, *, study: str | None, bundle: str, watch: bool = False, since: str | None = None,
                interval: float = 30.0, if_done: str = "new_run", top: int | None = None, patch: str = "96",
                downsample: float | None = None, assumed_pixel_spacing: float | None = None,
                registration: str = "mask", device: str | None = None, amp: bool = True,
                out: str | None = None) -> None:
    quiet_libraries()
    if watch == (study is not None):
        raise ValueError("give either --study UID (one study) or --watch (every new study), exactly one of them")
    pacs = Pacs.from_environment(dicomweb)
    detector = PacsDetector(pacs, bundle, patch=patch, downsample=downsample,
                            assumed_pixel_spacing=assumed_pixel_spacing, registration=registration, device=device,
                            amp=amp, top=top)
    if watch:
        from custom.pacs.watch import watch as run_watch

        try:
            run_watch(detector, since=since, interval=interval, out=out, report=print_result)
        except KeyboardInterrupt:
            print("stopped watching")
        return
    print_result(detector(str(study), if_done=if_done, out=out), detector)


def quiet_libraries() -> None:
    """dicomweb-client logs a line per request and highdicom one per copied module: warnings only."""
    for chatty in ("dicomweb_client", "highdicom"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def print_result(result: RunResult, detector: PacsDetector) -> None:
    """What a run found and stored, in a few lines."""
    for note in result.notes:
        print(f"note: {note}")
    if result.view_scores:
        views = ", ".join(f"{view} {score:.3f}" for view, score in sorted(result.view_scores.items()))
        count = sum(len(found) for found in result.candidates.values())
        print(f"study {result.study_uid}: score {result.score:.3f} ({views}), {count} candidate(s) on 4 images")
    if result.run is None:
        print(f"study {result.study_uid} already holds run(s) {result.earlier_runs} of {detector.identity.name} "
              f"{detector.identity.version}: nothing stored (--if_done skip)")
        return
    if result.earlier_runs:
        print(f"the study already held run(s) {result.earlier_runs} of this bundle version: this is run {result.run}")
    print(f"stored in {detector.pacs.url}: {len(result.stored)} instance(s) in 2 new series, "
          f"{description(detector.identity, result.run, 'candidates')!r} (SR) and "
          f"{description(detector.identity, result.run, 'heatmap')!r} (colour overlays)")
    timing = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in result.seconds.items())
    print(f"took {sum(result.seconds.values()):.2f} s ({timing})")
