"""Calibration of the synthetic benchmark against published real-data figures (``python -m custom calibrate``)."""

from custom.mammography.calibration.run import TARGETS, calibrate

__all__ = ["TARGETS", "calibrate"]
