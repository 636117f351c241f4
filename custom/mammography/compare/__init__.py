"""One protocol to compare encoders: every method pretrained on the same patches with the same seed and
budget, then probed on the same held-out patients (``python -m custom compare``)."""

from custom.mammography.compare.protocol import METHODS, PRESETS, ComparisonProtocol
from custom.mammography.compare.run import compare

__all__ = ["METHODS", "PRESETS", "ComparisonProtocol", "compare"]
