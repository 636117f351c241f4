"""``python -m custom compare-us``: initialisations times label fractions through the ultrasound bundle."""

from .run import PRESETS, compare_us

__all__ = ["PRESETS", "compare_us"]
