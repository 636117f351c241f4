"""How the segmentation network starts: at random, or with an encoder pretrained by a self-supervised method."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from custom.networks import flexible_unet_encoder_state

logger = logging.getLogger(__name__)


def initialise_encoder(network: nn.Module, init: str = "random") -> nn.Module:
    """``network`` (a ``FlexibleUNet`` with the ``resnet18`` backbone) with its encoder loaded from ``init``.

    ``init`` is ``"random"`` (left as built) or the path of a pretrained encoder's ``model.pt`` (a
    ``SiameseEncoder(backbone="resnet18_features")`` state dict, as ``pretrain.json`` writes it). Only the
    encoder is pretrained; the decoder and the segmentation head start at random either way.

    Raises:
        FileNotFoundError: ``init`` is neither ``"random"`` nor an existing file.
        ValueError: the file holds no encoder FlexibleUNet can take (see ``flexible_unet_encoder_state``).
    """
    if init == "random":
        return network
    path = Path(init)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no pretrained encoder there (init must be 'random' or a model.pt path)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        network.encoder.load_state_dict(flexible_unet_encoder_state(state), strict=True)
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"{path}: cannot initialise the FlexibleUNet encoder: {error}") from error
    logger.info("encoder initialised from %s (%d tensors)", path, len(state))
    return network
