"""The ultrasound generator's version, frozen once calibrated.

``python -m custom calibrate-us`` measures the synthetic breast set against published real-data figures and
stores them, with a fingerprint of what the generator draws (``fingerprint.py``), in
``docs/calibration_us.json``; a test compares the fingerprint. Any change to what the generator draws, for any
organ, needs a new version and a new calibration, and it never changes to suit a method.
"""

SYNTHETIC_VERSION = "1"
