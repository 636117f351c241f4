"""``pacs-detect --watch``: every new screening study gets its results, without a person.

Polling QIDO-RS rather than an Orthanc hook (a Lua ``OnStableStudy`` script or a plugin): it works with any
DICOMweb PACS, needs no code inside the PACS and no access to its configuration, and keeps no state of its own,
since the results stored in a study are what says it is done (``--if_done skip``), so a restarted watcher
neither misses nor repeats a study.

Each poll asks for MG studies dated ``since`` or later (``ModalitiesInStudy=MG``, ``StudyDate=<since>-``) with
their instance counts. A study is run once its count is the same at two polls in a row (a modality sends an
exam image by image: one that is still arriving would be refused as incomplete), and run again only if its
count changes afterwards (images added later). A study that fails is reported and the watcher goes on.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from custom.pacs.detect import PacsDetector, RunResult
from custom.pacs.errors import PacsError

logger = logging.getLogger(__name__)
INSTANCE_COUNT = "00201208"  # NumberOfStudyRelatedInstances


def new_study_filter(since: str) -> dict:
    """QIDO-RS filter for MG studies dated ``since`` (YYYYMMDD) or later."""
    if not re.fullmatch(r"\d{8}", since):
        raise ValueError(f"--since must be a date YYYYMMDD, got {since!r}")
    return {"ModalitiesInStudy": "MG", "StudyDate": f"{since}-"}


def watch(detector: PacsDetector, *, since: str | None = None, interval: float = 30.0, out: str | Path | None = None,
          report: Callable[[RunResult, PacsDetector], None] | None = None, polls: int | None = None) -> None:
    """Polls every ``interval`` seconds (``polls`` times, default for ever) and runs each new, complete study once
    (``detector(study, if_done="skip")``); ``report`` is called with each study's result."""
    # str: the command line hands a bare date over as a number
    filters = new_study_filter(str(since) if since is not None else date.today().strftime("%Y%m%d"))
    print(f"watching {detector.pacs.url} for MG studies dated {filters['StudyDate']} every {interval:g} s "
          "(Ctrl-C stops)", flush=True)
    previous: dict[str, int] = {}  # instance count at the previous poll
    handled: dict[str, int] = {}  # instance count after the study was run (or failed)
    done = 0
    while polls is None or done < polls:
        try:
            studies = detector.pacs.studies(filters, fields=[INSTANCE_COUNT])
        except PacsError as error:
            logger.error("%s; trying again in %g s", error, interval)
            studies = []
        for study in studies:
            uid, count = str(study.StudyInstanceUID), int(study.get("NumberOfStudyRelatedInstances", 0) or 0)
            stable = previous.get(uid) == count
            previous[uid] = count
            if handled.get(uid) == count or not stable:
                continue
            try:
                result = detector(uid, if_done="skip", out=out)
            except PacsError as error:
                logger.error("study %s: %s", uid, error)
                handled[uid] = count
                continue
            handled[uid] = previous[uid] = count + len(result.stored)
            if report is not None:
                report(result, detector)
        done += 1
        if polls is None or done < polls:
            time.sleep(interval)
