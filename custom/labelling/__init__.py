"""Labelling contralateral pairs without annotations: the GMM soft labeller (an estimator, fitted on embedding
distances) and the weak targets of the warm-up. The losses that take these labels are in ``custom.losses``."""

from .gmm import GMMSoftLabeller, weak_label_targets
from .mixture import Mixture1D

__all__ = ["GMMSoftLabeller", "Mixture1D", "weak_label_targets"]
