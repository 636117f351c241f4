"""Ultrasound: the second modality (breast-lesion segmentation with multi-organ contrastive pretraining).
Nothing here imports the mammography code; ``synthetic`` writes data in the real data sets' layouts."""

__all__ = ["synthetic"]
