"""Ultrasound modality package: data-set readers, the ultrasound manifest and synthetic data, on top of the core."""

__all__ = []
