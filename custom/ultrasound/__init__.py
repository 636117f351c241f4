"""Ultrasound: the second modality (breast-lesion segmentation with multi-organ contrastive pretraining).

Nothing here imports the mammography code. ``readers`` and ``manifest`` read the real data sets' layouts into
the ultrasound manifest; ``synthetic`` writes data in those layouts.
"""

__all__ = ["manifest", "readers", "synthetic"]
