"""The pixel spacing read for a mammogram whose file states none, and the warning that says so.

Patches are cut at a fixed size in millimetres, so an image must be resampled from its own spacing. Some
archives state none: CBIS-DDSM's DICOMs (digitised film) carry no ``PixelSpacing``, and PNG files never do.
Such a file is read at an assumed spacing rather than skipped, and the run says which spacing it assumed and
how to give the right one (``docs/data_formats.md``, "Pixel spacing"):

- CBIS-DDSM files (recognised by their ``PatientID`` or folder, :func:`custom.mammography.data.identity.is_cbis_ddsm`):
  43.5 µm. DDSM's films were digitised on four scanners, documented with the data set (Heath et al., "The Digital
  Database for Screening Mammography", IWDM 2000; each case's ``.ics`` file names its ``DIGITIZER``): DBA M2100
  ImageClear at 42 µm, Howtek 960 and Howtek MultiRad850 at 43.5 µm, Lumisys 200 Laser at 50 µm. CBIS-DDSM's
  DICOMs keep the scanned pixels but not which scanner, so the value of two of the four scanners is assumed:
  13 % too small for a Lumisys film, 3.6 % too large for a DBA one.
- any other file: 70 µm, the pixel pitch of the most common full-field digital detector (Hologic Selenia).

A spacing the user gives (bundle ``--assumed_pixel_spacing MM``, ``heatmap --assumed_pixel_spacing MM``)
replaces both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

DDSM_DIGITISER_SPACING_MM = 0.0435
DETECTOR_SPACING_MM = 0.07
OVERRIDE_OPTION = "--assumed_pixel_spacing MM"


@dataclass(frozen=True)
class SpacingAssumption:
    """The spacing (mm) a file without one is read at, and where that value comes from."""

    spacing: float
    source: str


def spacing_assumption(archive: str | None, given: float | None = None) -> SpacingAssumption:
    """What a file of ``archive`` (``"CBIS-DDSM"`` or None) that states no spacing is read at."""
    if given is not None:
        if not given > 0:
            raise ValueError(f"assumed_pixel_spacing must be a positive number of mm, got {given}")
        return SpacingAssumption(float(given), "given")
    if archive == "CBIS-DDSM":
        return SpacingAssumption(DDSM_DIGITISER_SPACING_MM, "CBIS-DDSM film scan: the DDSM digitisers' documented "
                                                            "42-50 µm, of which 43.5 µm for two of its four scanners")
    return SpacingAssumption(DETECTOR_SPACING_MM, "no spacing in the file: the common 70 µm detector pitch")


def assumed_spacing_warning(assumptions: Iterable[tuple[float, str]]) -> str | None:
    """One line per assumption made for the files of a run (``(spacing, source)`` per image), naming the spacing
    and the option that overrides it; None when every file stated its spacing or the user gave it."""
    counts = Counter((float(spacing), source) for spacing, source in assumptions if source != "given")
    if not counts:
        return None
    return "\n".join(f"{count} image(s) state no pixel spacing: read at an assumed {spacing:g} mm ({source}); "
                     f"give the right one with {OVERRIDE_OPTION}" for (spacing, source), count in sorted(counts.items()))
