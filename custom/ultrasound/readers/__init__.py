"""Ultrasound data sets read as distributed: one module per layout (``busi``, ``udiat``, ``pocus``, ``camus``,
``imagefolder``), each named by one line in ``registry``; ``common`` holds what the readers share, ``video`` the
frame extraction, ``loading`` and ``transforms`` the pixel loaders (grey images, merged masks) for training.

Nothing of the mammography packages is imported (tests/test_layers.py). Names are imported
from their modules: this package imports none of them, so that reading a manifest does not load MONAI.
"""

__all__ = []
