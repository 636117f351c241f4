"""Self-supervised learning on screening mammograms (contralateral Siamese networks with soft labels)."""

__version__ = "0.1.0"
