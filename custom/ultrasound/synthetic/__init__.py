"""Synthetic ultrasound in the layouts of the public data sets (BUSI, UDIAT, POCUS, CAMUS) and natural
images, for tests and for trying the ultrasound bundle without real data."""

from custom.ultrasound.synthetic.generate import synth_us
from custom.ultrasound.synthetic.presets import PRESETS, UltrasoundPreset

__all__ = ["PRESETS", "UltrasoundPreset", "synth_us"]
